"""A leaf certificate's subject attributes besides its common name (O, OU, C, ST, L): their
validation, their order in the name, and what the CA/Browser Forum TLS Baseline Requirements
allow of them.

Errors name the request's fields (``subject.organizational_unit``): the API, the web form
and the checks at signing use the same names, so nothing is mapped between layers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from lemur.crypto.countries import ISO_3166_ALPHA2
from lemur.errors import InvalidInput

# BR §7.1.6.1 reserved policy identifier for organization-validated subscriber certificates.
BR_ORGANIZATION_VALIDATED = x509.ObjectIdentifier("2.23.140.1.2.2")


class SubjectField(enum.StrEnum):
    """A leaf subject attribute besides the common name."""

    ORGANIZATION = "organization"
    ORGANIZATIONAL_UNIT = "organizational_unit"
    COUNTRY = "country"
    STATE = "state"
    LOCALITY = "locality"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    SubjectField.ORGANIZATION: "organization (O)",
    SubjectField.ORGANIZATIONAL_UNIT: "organizational unit (OU)",
    SubjectField.COUNTRY: "country (C)",
    SubjectField.STATE: "state or province (ST)",
    SubjectField.LOCALITY: "locality (L)",
}
# BR §7.1.4.2 order (C, ST, L, O, OU), as the authorities' own subjects have it.
_SUBJECT_ORDER = (
    (SubjectField.COUNTRY, NameOID.COUNTRY_NAME),
    (SubjectField.STATE, NameOID.STATE_OR_PROVINCE_NAME),
    (SubjectField.LOCALITY, NameOID.LOCALITY_NAME),
    (SubjectField.ORGANIZATION, NameOID.ORGANIZATION_NAME),
    (SubjectField.ORGANIZATIONAL_UNIT, NameOID.ORGANIZATIONAL_UNIT_NAME),
)
# RFC 5280 Appendix A upper bounds (ub-organization-name, ub-state-name, ...).
SUBJECT_MAX_LENGTH = {
    SubjectField.ORGANIZATION: 64,
    SubjectField.ORGANIZATIONAL_UNIT: 64,
    SubjectField.COUNTRY: 2,
    SubjectField.STATE: 128,
    SubjectField.LOCALITY: 128,
}


# Domain-validated certificates may name a country only; an organization (OV) brings a
# state or locality (BR §7.1.2.7.2, §7.1.2.7.4). Never an OU (BR §7.1.2.7.4, since 2022).
CAB_FORUM_SUBJECT_FIELDS = (
    SubjectField.ORGANIZATION,
    SubjectField.COUNTRY,
    SubjectField.STATE,
    SubjectField.LOCALITY,
)


def default_subject_fields(*, cab_forum: bool) -> tuple[SubjectField, ...]:
    """What a new authority allows unless told otherwise: every field for a private CA, the
    country for a CA/B Forum one (domain validation; organizations are allowed by choice,
    by the CA that vets them)."""
    return (SubjectField.COUNTRY,) if cab_forum else tuple(SubjectField)


@dataclass(frozen=True)
class LeafSubject:
    """The subject attributes of a leaf besides its common name, validated."""

    organization: str | None = None
    organizational_unit: str | None = None
    country: str | None = None
    state: str | None = None
    locality: str | None = None

    @classmethod
    def create(
        cls,
        *,
        organization: str | None = None,
        organizational_unit: str | None = None,
        country: str | None = None,
        state: str | None = None,
        locality: str | None = None,
    ) -> LeafSubject:
        """Trimmed values; empty ones are left out. Raises InvalidInput(invalid_subject)
        for a value over its RFC 5280 upper bound, InvalidInput(invalid_country) for a
        country that is not an ISO 3166 two-letter code (uppercased first)."""
        given = {
            SubjectField.ORGANIZATION: organization,
            SubjectField.ORGANIZATIONAL_UNIT: organizational_unit,
            SubjectField.COUNTRY: country,
            SubjectField.STATE: state,
            SubjectField.LOCALITY: locality,
        }
        values: dict[SubjectField, str | None] = {}
        for field, raw in given.items():
            value = raw.strip() if raw else None
            if value and len(value) > SUBJECT_MAX_LENGTH[field]:
                raise InvalidInput(
                    f"{field.label} is longer than {SUBJECT_MAX_LENGTH[field]} characters "
                    "(RFC 5280 upper bound)",
                    code="invalid_subject",
                    field=f"subject.{field.value}",
                )
            values[field] = value or None
        code = values[SubjectField.COUNTRY]
        if code is not None:
            code = code.upper()
            if code not in ISO_3166_ALPHA2:
                raise InvalidInput(
                    f"'{code[:2]}' is not an ISO 3166 two-letter country code (such as US, DE "
                    "or JP)",
                    code="invalid_country",
                    field="subject.country",
                )
        return cls(
            organization=values[SubjectField.ORGANIZATION],
            organizational_unit=values[SubjectField.ORGANIZATIONAL_UNIT],
            country=code,
            state=values[SubjectField.STATE],
            locality=values[SubjectField.LOCALITY],
        )

    @classmethod
    def of_name(cls, name: x509.Name) -> LeafSubject:
        """The attributes of an issued certificate's subject (the first of each kind)."""
        found: dict[SubjectField, str] = {}
        for field, oid in _SUBJECT_ORDER:
            attributes = name.get_attributes_for_oid(oid)
            if attributes and isinstance(attributes[0].value, str):
                found[field] = attributes[0].value
        return cls(**{f.value: v for f, v in found.items()})

    def value(self, field: SubjectField) -> str | None:
        value: str | None = getattr(self, field.value)
        return value

    @property
    def fields(self) -> tuple[SubjectField, ...]:
        """The fields given, in declaration order."""
        return tuple(f for f in SubjectField if self.value(f) is not None)

    def attributes(self) -> list[x509.NameAttribute[str]]:
        """The attributes in BR §7.1.4.2 order, for a name that ends with the CN."""
        return [
            x509.NameAttribute(oid, value)
            for field, oid in _SUBJECT_ORDER
            if (value := self.value(field)) is not None
        ]


def check_cab_forum_subject(subject: LeafSubject) -> None:
    """BR §7.1.2.7.2 (domain validated: a country at most) and §7.1.2.7.4 (organization
    validated: organization, country, and a state or a locality)."""
    if subject.organizational_unit is not None:
        raise InvalidInput(
            "publicly trusted TLS certificates have no organizational unit (CA/B Forum BR "
            "§7.1.2.7.4)",
            code="subject_field_not_allowed",
            field="subject.organizational_unit",
        )
    if subject.organization is None:
        for field in (SubjectField.STATE, SubjectField.LOCALITY):
            if subject.value(field) is not None:
                raise InvalidInput(
                    f"a {field.label} goes with an organization: a domain-validated "
                    "certificate names at most a country (CA/B Forum BR §7.1.2.7.2); give "
                    "the organization too, or leave it out",
                    code="subject_incomplete",
                    field="subject.organization",
                )
        return
    if subject.country is None:
        raise InvalidInput(
            "an organization-validated certificate names the organization's country "
            "(CA/B Forum BR §7.1.2.7.4)",
            code="subject_incomplete",
            field="subject.country",
        )
    if subject.state is None and subject.locality is None:
        raise InvalidInput(
            "an organization-validated certificate names the organization's state or "
            "locality (CA/B Forum BR §7.1.2.7.4)",
            code="subject_incomplete",
            field="subject.state",
        )


NO_SUBJECT = LeafSubject()
