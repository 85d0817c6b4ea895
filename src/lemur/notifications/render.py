"""Digests as people read them: a subject, plain text and HTML, rendered once when the
message is written (so every retry sends exactly the same message)."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from dataclasses import dataclass, field

from lemur.notifications.events import Event

MAX_NAMES = 5


@dataclass(frozen=True)
class Item:
    """One line of a digest: a certificate (or a job, or the audit chain) and what happened."""

    subject: str  # the ledger's subject key, e.g. "certificate:42"
    title: str  # e.g. the certificate's common name
    certificate_id: int | None = None
    names: tuple[str, ...] = ()
    team: str | None = None
    not_after: dt.datetime | None = None
    days_left: int | None = None
    detail: str | None = None  # revocation reason, error, ...
    link: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    link: str | None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _days(n: int) -> str:
    if n <= 0:
        return "today"
    return "in 1 day" if n == 1 else f"in {n} days"


_HEADLINES: dict[Event, tuple[str, str]] = {
    # event: (subject for one, subject for many: {n} is the count)
    Event.ISSUED: ("certificate issued: {title}", "{n} certificates issued"),
    Event.RENEWED: ("certificate renewed: {title}", "{n} certificates renewed"),
    Event.REVOKED: ("certificate revoked: {title}", "{n} certificates revoked"),
    Event.RENEWAL_FAILED: (
        "renewal failed: {title}",
        "renewal failed for {n} certificates",
    ),
    Event.RENEWAL_NEEDED: (
        "renew by hand: {title}",
        "{n} certificates to renew by hand",
    ),
    Event.REQUEST_FAILED: ("request failed at the CA: {title}", "{n} requests failed at the CA"),
    Event.DEPLOYMENT_FAILED: (
        "deployment failed: {title}",
        "deployment failed for {n} certificates",
    ),
    Event.JOB_FAILED: ("job failed: {title}", "{n} jobs failed"),
    Event.AUDIT_CHAIN_BROKEN: (
        "the audit chain is broken",
        "the audit chain is broken ({n} reports)",
    ),
}

_INTROS: dict[Event, str] = {
    Event.EXPIRING: "These certificates expire soon. Renew or replace them before they do.",
    Event.ISSUED: "These certificates were issued.",
    Event.RENEWED: "These certificates were renewed; deploy the new ones where the old ones are.",
    Event.REVOKED: "These certificates were revoked; clients that check revocation reject them.",
    Event.RENEWAL_FAILED: "Lemur could not renew these certificates.",
    Event.RENEWAL_NEEDED: (
        "Lemur will not renew these certificates itself (issued from a CSR, or their policy "
        "is to notify only): renew them yourself."
    ),
    Event.REQUEST_FAILED: (
        "The CA did not issue these requested certificates; the reason is the CA's. Fix "
        "what it says and request them again."
    ),
    Event.DEPLOYMENT_FAILED: (
        "These certificates could not be deployed, or were not served correctly after "
        "deploying them; where Lemur could, it put the previous certificate back."
    ),
    Event.JOB_FAILED: "These jobs gave up after their last attempt.",
    Event.AUDIT_CHAIN_BROKEN: (
        "The daily verification found the audit log's hash chain broken: events were "
        "changed or removed. Run `lemur audit verify` on the server."
    ),
}


def render(event: Event, items: Sequence[Item], *, base_url: str) -> Rendered:
    """The digest of ``items`` (all of one event) for one recipient."""
    n = len(items)
    if event is Event.EXPIRING:
        soonest = min(i.days_left if i.days_left is not None else 0 for i in items)
        headline = (
            f"certificate {items[0].title} expires {_days(soonest)}"
            if n == 1
            else f"{n} certificates expire soon, the first {_days(soonest)}"
        )
    else:
        one, many = _HEADLINES[event]
        headline = one.format(title=items[0].title) if n == 1 else many.format(n=n)
    subject = f"Lemur: {headline}"
    if len(subject) > 250:
        subject = subject[:249] + "…"
    if n == 1 and items[0].link:
        link: str | None = items[0].link
    elif all(i.certificate_id is not None for i in items):
        link = f"{base_url}/certificates"
    else:
        link = None

    lines = [subject, "", _INTROS[event], ""]
    for item in items:
        lines.append(f"- {item.title}")
        for label, value in _facts(item):
            lines.append(f"    {label}: {value}")
        if item.link:
            lines.append(f"    {item.link}")
        lines.append("")
    lines.append(f"{_plural(n, 'item')}. Sent by Lemur at {base_url}")
    text = "\n".join(lines) + "\n"

    rows = []
    for item in items:
        title = html.escape(item.title)
        if item.link:
            title = f'<a href="{html.escape(item.link, quote=True)}">{title}</a>'
        facts = "".join(
            f"<br><small>{html.escape(label)}: {html.escape(value)}</small>"
            for label, value in _facts(item)
        )
        rows.append(f"<li><strong>{title}</strong>{facts}</li>")
    body_html = (
        "<!DOCTYPE html>\n<html><body>"
        f"<h2>{html.escape(headline)}</h2>"
        f"<p>{html.escape(_INTROS[event])}</p>"
        f"<ul>{''.join(rows)}</ul>"
        f"<p><small>Sent by Lemur at {html.escape(base_url)}</small></p>"
        "</body></html>\n"
    )
    return Rendered(subject=subject, text=text, html=body_html, link=link)


def _facts(item: Item) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []
    others = [n for n in item.names if n != item.title]
    if others:
        shown = ", ".join(others[:MAX_NAMES])
        if len(others) > MAX_NAMES:
            shown += f" and {len(others) - MAX_NAMES} more"
        facts.append(("names", shown))
    if item.certificate_id is not None:
        facts.append(("team", item.team or "(no team)"))
    if item.not_after is not None:
        when = item.not_after.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        if item.days_left is not None:
            when += f" ({_days(item.days_left)}, {_plural(max(item.days_left, 0), 'day')} left)"
        facts.append(("expires", when))
    facts.extend(item.extra.items())
    if item.detail:
        facts.append(("detail", item.detail))
    return facts
