"""Who may apply together, and for how much: every broken rule, with the partners who break it.

A refusal that only counts ("2 SMEs of 5 companies") leaves the applicant to
guess which partner to replace; the acts name the partner by *codice fiscale*,
so a refusal here names each culprit (tax code, name, and the rule it breaks)
and lists every rule broken at once, so one correction round is enough. The
message is for people (at most :data:`SHOWN` names per rule); the refusal's
``data`` carries all of them: ``violations`` (one per rule, with its
``partners``) and ``culprits`` (one per partner and rule).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from handlers.aid import pair_for
from handlers.base import Refusal
from handlers.money import euro, text

ZERO = Decimal(0)

#: How many partners a message names for one rule; the refusal's data names them all.
SHOWN = 10

Partner = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Violation:
    """One rule broken: what it says, and the partners who break it (none for a count)."""

    rule: str
    message: str
    partners: tuple[Partner, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    inline: bool = False  # the message already names its one partner

    def sentence(self) -> str:
        """The message, followed by the partners it names (the first :data:`SHOWN` of them)."""
        if not self.partners or self.inline:
            return self.message
        names = [who(p) for p in self.partners[:SHOWN]]
        more = len(self.partners) - SHOWN
        if more > 0:
            names.append(f"and {more} more")
        return f"{self.message}: {', '.join(names)}"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, for the refusal's data."""
        return {
            "rule": self.rule,
            "message": self.message,
            "partners": [{"tax_code": p["tax_code"], "name": p["name"]} for p in self.partners],
            **self.details,
        }


def who(partner: Partner) -> str:
    """A partner as people read it: its name and codice fiscale."""
    return f"{partner['name']} ({partner['tax_code']})"


def refusal(guard: str, violations: Sequence[Violation], **data: Any) -> Refusal | None:
    """One refusal naming every violation and every culprit; ``None`` when nothing is broken."""
    if not violations:
        return None
    culprits = [
        {"tax_code": p["tax_code"], "name": p["name"], "rule": v.rule} for v in violations for p in v.partners
    ]
    return Refusal(
        guard,
        "; ".join(v.sentence() for v in violations),
        {**data, "violations": [v.to_json() for v in violations], "culprits": culprits},
    )


def _when(broken: bool, violation: Violation) -> list[Violation]:
    return [violation] if broken else []


# --- Phase 1: the call's composition -------------------------------------------


def call_composition(rules: Mapping[str, Any], partners: Sequence[Partner]) -> Refusal | None:
    """The call's composition rules, each broken one naming its partners."""
    counted = [p for p in partners if p["kind"] == "company" and p["lombardy_seat"]]
    outside = tuple(p for p in partners if p["kind"] == "company" and not p["lombardy_seat"])
    required = rules["min_companies_in_lombardy"]
    allowed = set(rules["other_kinds_allowed"]) | {"company"}
    foreign = tuple(p for p in partners if p["kind"] not in allowed)
    silent = tuple(
        p
        for p in partners
        if rules["role_required_for_other_kinds"] and p["kind"] != "company" and not p.get("role")
    )
    leads = tuple(p for p in partners if p.get("capofila"))
    violations = [
        *_when(
            len(counted) < required,
            Violation(
                "min_companies_in_lombardy",
                f"{len(counted)} companies with a seat in Lombardy, at least {required} required",
                outside,
                {"companies_in_lombardy": len(counted), "required": required},
            ),
        ),
        *_when(
            bool(foreign),
            Violation(
                "other_kinds_allowed",
                f"partner kinds not allowed ({', '.join(sorted({p['kind'] for p in foreign}))})",
                foreign,
            ),
        ),
        *_when(
            bool(silent),
            Violation("role_required_for_other_kinds", "partners without a declared role", silent),
        ),
        *_when(
            rules["capofila_required"] and len(leads) != 1,
            Violation(
                "capofila_required",
                "the partnership has no capofila" if not leads else f"{len(leads)} capofila, exactly one",
                leads,
            ),
        ),
    ]
    first = violations[0].details if violations else {}
    return refusal("composition", violations, **first)


# --- Phase 2: the measure's composition ----------------------------------------


def measure_composition(rules: Mapping[str, Any], partners: Sequence[Partner]) -> Refusal | None:
    """The measure's composition rules, each broken one naming its partners."""
    companies = [p for p in partners if p["kind"] == "company"]
    sizes = Counter(p["size"] for p in companies)
    leads = tuple(p for p in partners if p.get("capofila"))
    twice = {c for c, n in Counter(p["tax_code"] for p in partners).items() if n > 1}
    most_large = rules.get("max_large")
    larges = tuple(p for p in companies if p["size"] == "large")
    violations = [
        *_when(
            bool(twice),
            Violation(
                "listed_twice", "partners listed twice", tuple(p for p in partners if p["tax_code"] in twice)
            ),
        ),
        *_when(
            len(leads) != 1,
            Violation("capofila", f"exactly one capofila is required, found {len(leads)}", leads),
        ),
        *_when(
            len(partners) < rules["min_partners"],
            Violation("min_partners", f"{len(partners)} partners, at least {rules['min_partners']} required"),
        ),
        *_when(
            len(companies) < rules["min_companies"],
            Violation(
                "min_companies", f"{len(companies)} companies, at least {rules['min_companies']} required"
            ),
        ),
        *_when(
            rules["lombardy_seat_required"] and any(not p["lombardy_seat"] for p in companies),
            Violation(
                "lombardy_seat_required",
                "every company needs a seat in Lombardy",
                tuple(p for p in companies if not p["lombardy_seat"]),
            ),
        ),
        *_when(
            sizes["sme"] < rules["min_smes"],
            Violation("min_smes", f"{sizes['sme']} SMEs, at least {rules['min_smes']} required"),
        ),
        *_when(
            rules["sme_majority"] and sizes["sme"] * 2 <= len(companies),
            Violation(
                "sme_majority",
                f"{sizes['sme']} SMEs of {len(companies)} companies: not a majority (not SMEs)",
                tuple(p for p in companies if p["size"] != "sme"),
            ),
        ),
        *_when(
            most_large is not None and len(larges) > most_large,
            Violation("max_large", f"{len(larges)} large companies, at most {most_large}", larges),
        ),
        *_when(
            rules["large_only_experimental"] and any(Decimal(p["main"]) > 0 for p in larges),
            Violation(
                "large_only_experimental",
                "a large company may only carry out experimental development",
                tuple(p for p in larges if Decimal(p["main"]) > 0),
            ),
        ),
    ]
    return refusal("composition", [*violations, *_linked(rules, partners), *_credit(rules, companies)])


def _linked(rules: Mapping[str, Any], partners: Sequence[Partner]) -> list[Violation]:
    """At most ``max_linked`` partners linked by control or association (one declared group each)."""
    most = rules.get("max_linked")
    groups = Counter(p["linked_group"] for p in partners if p.get("linked_group"))
    return [
        Violation(
            "max_linked",
            f"{count} partners linked by control or association (group {group!r}), at most {most}",
            tuple(p for p in partners if p.get("linked_group") == group),
            {"group": group},
        )
        for group, count in sorted(groups.items())
        if most is not None and count > most
    ]


def _credit(rules: Mapping[str, Any], companies: Sequence[Partner]) -> list[Violation]:
    """Every company declares a credit-scoring class from 1 to ``credit_scoring_max``."""
    most = rules.get("credit_scoring_max")
    outside = tuple(p for p in companies if not 1 <= (p.get("credit_scoring") or 0) <= (most or 0))
    if most is None or not outside:
        return []
    return [Violation("credit_scoring", f"credit scoring class not declared or not in 1-{most}", outside)]


# --- Phase 2: amounts and duration ------------------------------------------


def spent(partner: Partner) -> Decimal:
    """A partner's eligible costs, main and experimental."""
    return Decimal(partner["main"]) + Decimal(partner["experimental"])


def measure_amounts(measure: Mapping[str, Any], application: Mapping[str, Any]) -> Refusal | None:
    """Project and partner amounts, shares, caps, duration and eligibility: every one broken."""
    return refusal(
        "amounts",
        [
            *_project(measure["amounts"], application),
            *_partner_minimums(measure["amounts"], application["partners"]),
            *_eligibility(measure["aid"], application),
        ],
    )


def _project(rules: Mapping[str, Any], application: Mapping[str, Any]) -> list[Violation]:
    partners = application["partners"]
    total = sum((spent(p) for p in partners), ZERO)
    experimental = sum((Decimal(p["experimental"]) for p in partners), ZERO)
    low, high = Decimal(rules["project_min"]), rules.get("project_max")
    share, cap = rules.get("experimental_share_max"), rules.get("experimental_cap")
    months, most = application["duration_months"], rules["max_duration_months"]
    doers = tuple(p for p in partners if Decimal(p["experimental"]) > 0)
    amounts = {"total": text(total)}
    return [
        *_when(
            total < low,
            Violation(
                "project_min",
                f"project total {euro(total)} is below the minimum {euro(low)}",
                details={**amounts, "min": text(low)},
            ),
        ),
        *_when(
            high is not None and total > Decimal(high),
            Violation(
                "project_max",
                f"project total {euro(total)} is above the maximum {euro(high or ZERO)}",
                details={**amounts, "max": high},
            ),
        ),
        *_when(
            share is not None and experimental > total * Decimal(share),
            Violation(
                "experimental_share_max",
                f"experimental development {euro(experimental)} exceeds "
                f"{Decimal(share or 0):.0%} of the total",
                doers,
                {"experimental": text(experimental), "share_max": share},
            ),
        ),
        *_when(
            cap is not None and experimental > Decimal(cap),
            Violation(
                "experimental_cap",
                f"experimental development {euro(experimental)} exceeds the cap {euro(cap or ZERO)}",
                doers,
                {"experimental": text(experimental), "cap": cap},
            ),
        ),
        *_when(
            months > most,
            Violation(
                "max_duration_months",
                f"duration {months} months, at most {most}",
                details={"duration_months": months, "max": most},
            ),
        ),
    ]


def _partner_minimums(rules: Mapping[str, Any], partners: Sequence[Partner]) -> list[Violation]:
    violations = []
    for p in partners:
        least = rules.get("partner_min", {}).get(p["size"]) if p["kind"] == "company" else None
        if least is not None and spent(p) < Decimal(least):
            violations.append(
                Violation(
                    "partner_min",
                    f"partner {who(p)} ({p['size']}) spends {euro(spent(p))}, "
                    f"at least {euro(least)} required",
                    (p,),
                    {"spent": text(spent(p)), "min": least},
                    inline=True,
                )
            )
    return violations


def _eligibility(aid: Mapping[str, Any], application: Mapping[str, Any]) -> list[Violation]:
    variant = application.get("variant")
    known = aid.get("variants", {})
    if variant is not None and variant not in known:
        return [
            Violation("variant", f"unknown variant {variant!r} (known: {', '.join(sorted(known)) or 'none'})")
        ]
    violations = [
        Violation(
            "no_aid_for_costs",
            f"partner {who(p)}: {p['size']} companies get no aid for {bucket} costs",
            (p,),
            {"costs": bucket, "size": p["size"]},
            inline=True,
        )
        for p in application["partners"]
        for bucket in ("main", "experimental")
        if Decimal(p[bucket]) > 0 and pair_for(aid, bucket, p["size"], variant) is None
    ]
    asked, most = application.get("pre_amortisation_months", 0), aid.get("pre_amortisation_max_months", 0)
    return violations + _when(
        asked > most,
        Violation(
            "pre_amortisation_max_months",
            f"pre-amortisation of {asked} months exceeds {most}",
            details={"months": asked, "max": most},
        ),
    )
