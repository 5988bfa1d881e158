"""The price table (``prices.yaml``): unit prices with their source URLs, validated when loaded.

Kept apart from the counting in ``auditing.cost`` so that updating a price is a data change, and a
lookup of something the table lacks fails with its name (``PriceError``) instead of pricing it at zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PRICES_FILE = Path(__file__).resolve().parent / "prices.yaml"


class PriceError(ValueError):
    """The price table lacks, or cannot be used for, something the templates create."""


@dataclass(frozen=True)
class Price:
    usd: float | None
    source: str
    unit: str = ""
    note: str = ""


@dataclass(frozen=True)
class PriceTable:
    date: str
    region: str
    hours_per_month: int
    note: str
    unit_prices: Mapping[str, Price]
    lustre_persistent_2: Mapping[int, Price]
    instance_hour: Mapping[str, Price]
    provisioned_throughput: Mapping[str, Price]
    run_hours: float
    usage_based: tuple[str, ...] = ()

    def unit(self, name: str) -> Price:
        if name not in self.unit_prices:
            raise PriceError(f"prices.yaml has no unit_prices.{name}")
        return self.unit_prices[name]

    def instance(self, instance_type: str) -> Price:
        if instance_type not in self.instance_hour:
            known = ", ".join(sorted(self.instance_hour))
            raise PriceError(
                f"instance type {instance_type!r} has no price in prices.yaml (hyperpod_instance_hour); "
                f"known: {known}. Add it with its source URL."
            )
        return self.instance_hour[instance_type]

    def lustre(self, throughput: int) -> Price:
        if throughput not in self.lustre_persistent_2:
            known = ", ".join(str(t) for t in sorted(self.lustre_persistent_2))
            raise PriceError(
                f"FSx for Lustre PERSISTENT_2 throughput {throughput} MB/s/TiB has no price in prices.yaml "
                f"(fsx_lustre_persistent_2_gib_month); known: {known}"
            )
        return self.lustre_persistent_2[throughput]

    def model_unit(self, model_id: str) -> Price:
        if model_id not in self.provisioned_throughput:
            raise PriceError(
                f"Bedrock model {model_id!r} has no provisioned throughput price in prices.yaml "
                "(bedrock_provisioned_throughput_model_unit_hour)"
            )
        return self.provisioned_throughput[model_id]


def _price(key: str, raw: Any) -> Price:
    if not isinstance(raw, Mapping):
        raise PriceError(f"prices.yaml {key}: expected a mapping with usd and source, got {raw!r}")
    source = raw.get("source")
    if not isinstance(source, str) or not source.startswith("https://"):
        raise PriceError(f"prices.yaml {key}: source must be an https URL, got {source!r}")
    usd = raw.get("usd")
    if usd is not None and (isinstance(usd, bool) or not isinstance(usd, int | float) or usd < 0):
        raise PriceError(f"prices.yaml {key}: usd must be a non-negative number or null, got {usd!r}")
    return Price(
        None if usd is None else float(usd),
        source,
        str(raw.get("unit", "")),
        " ".join(str(raw.get("note", "")).split()),
    )


def _prices(raw: Mapping[str, Any], section: str, unit: str = "") -> dict[str, Price]:
    entries = raw.get(section) or {}
    prices = {str(name): _price(f"{section}.{name}", value) for name, value in entries.items()}
    return {name: p if p.unit or not unit else Price(p.usd, p.source, unit, p.note) for name, p in prices.items()}


def parse_price_table(raw: Mapping[str, Any]) -> PriceTable:
    """Validate the YAML document: every price has an https source and a number (or null)."""
    lustre = _prices(raw, "fsx_lustre_persistent_2_gib_month", "GiB-month")
    return PriceTable(
        date=str(raw["date"]),
        region=str(raw["region"]),
        hours_per_month=int(raw.get("hours_per_month", 730)),
        note=" ".join(str(raw.get("note", "")).split()),
        unit_prices=_prices(raw, "unit_prices"),
        lustre_persistent_2={int(tier): price for tier, price in lustre.items()},
        instance_hour=_prices(raw, "hyperpod_instance_hour", "instance-hour"),
        provisioned_throughput=_prices(raw, "bedrock_provisioned_throughput_model_unit_hour", "model unit-hour"),
        run_hours=float(raw.get("customization_run", {}).get("hours", 24)),
        usage_based=tuple(str(item) for item in raw.get("usage_based", [])),
    )


def load_price_table(path: Path = PRICES_FILE) -> PriceTable:
    return parse_price_table(yaml.safe_load(path.read_text(encoding="utf-8")))
