// /certificates/new: the names are checked as they are typed, by the same name check the
// server runs (POST /api/v1/certificates/name-check), and the form follows the chosen
// authority's limits. Without this script the form works the same, with "Check names".
import { debounce, postJSON } from "/static/lemur.js";

const form = document.querySelector('[data-testid="request-form"]');
const KINDS = { dns: "DNS name", ip: "IP address", email: "email address", uri: "URI" };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function day(iso) { return iso ? iso.slice(0, 10) : ""; }
function capitalize(text) { return text.charAt(0).toUpperCase() + text.slice(1); }

if (form) {
  const names = form.querySelector("#names");
  const report = form.querySelector("#name-report");
  const team = form.querySelector("#team_id");
  const authority = form.querySelector("#authority_id");
  const profile = form.querySelector("#profile");
  const keyType = form.querySelector("#key_type");
  const validity = form.querySelector("#validity_days");
  let pending = null;

  const lines = () => names.value.split("\n").map((l) => l.trim()).filter(Boolean);
  const number = (select) => (select && select.value ? Number(select.value) : null);

  function addName(name) {
    const current = lines();
    if (!current.includes(name)) current.push(name);
    names.value = current.join("\n") + "\n";
    names.focus();
    check();
  }

  function item(n, index) {
    const head = el("div", { class: "name-line" }, el("span", { class: "mono", text: n.input }));
    if (n.normalized && n.normalized !== n.input) {
      head.append(" ", el("span", { "aria-hidden": "true", text: "→" }), " ",
        el("span", { class: "mono", "data-testid": "normalized", text: n.normalized }));
    }
    if (n.unicode && n.unicode !== n.normalized) {
      head.append(" ", el("span", { class: "help", text: `(reads as ${n.unicode})` }));
    }
    head.append(" ", el("span", { class: "name-kind", text: KINDS[n.kind] || n.kind }));
    const li = el("li", { id: `names-${index}`, class: n.error ? "name-item name-bad" : "name-item name-ok", "data-testid": "name-item" }, head);
    if (n.error) li.append(el("p", { class: "field-error", "data-testid": "name-error", text: n.error.message }));
    if (n.wildcard_covers) li.append(el("p", { class: "help", text: `This wildcard ${n.wildcard_covers.covers}.` }));
    if (n.covered_by) li.append(el("p", { class: "help", text: `Already covered by ${n.covered_by}.` }));
    for (const s of n.suggestions) {
      const button = el("button", { type: "button", class: "secondary", "data-testid": "suggestion", text: `Add ${s.name}` });
      button.addEventListener("click", () => addName(s.name));
      li.append(el("p", { class: "suggestion", text: `Add ${s.name}? ${capitalize(s.reason)}. ` }, button));
    }
    if (n.held_by_other_team) {
      li.append(el("p", { class: "warning", "data-testid": "other-team",
        text: "Another team already holds a live certificate for this name. Check with them before requesting a second one." }));
    }
    for (const e of n.existing) {
      const link = el("a", { href: `/certificates/${e.id}`, text: String(e.id) });
      const team = e.team ? ` of team ${e.team.name}` : "";
      li.append(el("p", { class: "help" }, "Certificate ", link, `${team} already has this name, until ${day(e.not_after)}.`));
    }
    return li;
  }

  function showReport(answer) {
    const list = el("ul");
    answer.names.forEach((n, i) => list.append(item(n, i)));
    report.replaceChildren(answer.names.length ? list : "");
    const bad = answer.names.some((n) => n.error);
    names.setAttribute("aria-invalid", bad ? "true" : "false");
    if (answer.authority) applyLimits(answer.authority);
  }

  function showProblem(message) {
    report.replaceChildren(el("p", { class: "field-error", text: message }));
  }

  async function check() {
    if (pending) pending.abort();
    pending = new AbortController();
    const body = { names: lines(), profile: profile ? profile.value : "server" };
    if (number(team)) body.team_id = number(team);
    if (number(authority)) body.authority_id = number(authority);
    try {
      const { status, body: answer } = await postJSON("/api/v1/certificates/name-check", body, { signal: pending.signal });
      if (status === 200) showReport(answer);
      else showProblem(answer && answer.error ? answer.error.message : `The names could not be checked (HTTP ${status}).`);
    } catch (error) {
      if (error.name !== "AbortError") showProblem("The names could not be checked; they will be checked when you send the form.");
    }
  }

  function toggle(input, allowed) {
    const field = input.closest(".field, .check");
    if (field) field.hidden = !allowed;
    input.disabled = !allowed;  // a hidden choice is not sent
  }

  function applyLimits(limits) {
    if (validity) {
      validity.max = String(limits.max_validity_days);
      validity.placeholder = String(limits.default_validity_days);
      const help = form.querySelector("#validity_days-help");
      if (help) help.textContent = `Leave empty for the default of ${limits.default_validity_days} days; at most ${limits.max_validity_days} days from ${limits.name}.`;
    }
    if (keyType) {
      for (const option of keyType.options) {
        option.disabled = !limits.key_types.includes(option.value);
        option.textContent = option.value + (option.value === limits.recommended_key_type ? " (recommended)" : "");
      }
      if (keyType.selectedOptions[0] && keyType.selectedOptions[0].disabled) keyType.value = limits.recommended_key_type || limits.key_types[0];
      const help = form.querySelector("#key_type-help");
      if (help && limits.recommended_key_type_reason) {
        help.textContent = `Recommended: ${limits.recommended_key_type}. ${limits.recommended_key_type_reason}. Lemur generates the key and keeps it encrypted; you never handle it unless you export it.`;
      }
    }
    const subject = limits.allowed_subject_fields || limits.subject_fields || [];
    for (const input of form.querySelectorAll("[data-subject-field]")) toggle(input, subject.includes(input.dataset.subjectField));
    const ekus = limits.allowed_extended_key_usages || limits.extended_key_usages || [];
    for (const input of form.querySelectorAll('input[name="extended_key_usage"]')) toggle(input, ekus.includes(input.value));
    form.dataset.keyUsages = JSON.stringify(limits.key_usages || {});
    applyKeyUsages();
    const help = form.querySelector("#advanced-help");
    if (help) {
      help.textContent = `${limits.name} allows ${subject.length ? subject.join(", ") : "no subject fields"} besides the names, and the extended key usages ${ekus.join(", ")}.`;
    }
  }

  function applyKeyUsages() {
    const byKey = JSON.parse(form.dataset.keyUsages || "{}");
    const possible = byKey[keyType ? keyType.value : "ec-p256"] || [];
    for (const input of form.querySelectorAll('input[name="key_usage"]')) toggle(input, possible.includes(input.value));
  }

  function authorityLimits() {
    const option = authority && authority.selectedOptions[0];
    if (!option || !option.dataset.limits) return;
    applyLimits(JSON.parse(option.dataset.limits));
  }

  const later = debounce(check, 300);
  names.addEventListener("input", later);
  for (const select of [team, authority, profile]) if (select) select.addEventListener("change", () => { if (select === authority) authorityLimits(); check(); });
  if (keyType) keyType.addEventListener("change", applyKeyUsages);
  for (const button of form.querySelectorAll("[data-check-names]")) button.hidden = true;
  authorityLimits();
  if (lines().length) check();
}
