"""The sandbox's price list: SYNTHETIC, ILLUSTRATIVE figures, not AWS prices.

moto has no `pricing` service, so no Price List API answers in the sandbox (its scheduled refresh is
recorded as FAILED there and leaves this list current, as a real refused refresh would). So that the
demo and sandbox scenarios show cost figures, deploying the sandbox installs this list as the region's
current list, through the same store the refresh writes with. Its id (`sandbox-synthetic-<date>`) and
source say what it is; every cost computed with it names it.

Figures are derived from the guide's instance table (shared/cost/instances.py): an hourly rate
proportional to vCPUs, memory and GPUs, with round illustrative coefficients, so relative sizes are
plausible and nothing is typed per instance.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from shared.cost.instances import instance_types
from shared.cost.price_source import PriceStore
from shared.cost.prices import DYNAMIC_RUN_STORAGE, STATIC_RUN_STORAGE, PriceLine, PriceList, price_list
from shared.provenance.repository import ProvenanceRepository

SOURCE = ("SANDBOX SYNTHETIC PRICES: illustrative figures for the local sandbox, NOT AWS prices. Hourly rate "
          "= {vcpu} USD per vCPU + {gib} USD per GiB of memory + {gpu} USD per GPU, from the guide's instance "
          "table; run storage {storage} USD per GiB-month (static and dynamic).")
# Illustrative coefficients (round numbers, not derived from any AWS price).
USD_PER_VCPU_HOUR = Decimal("0.05")
USD_PER_GIB_HOUR = Decimal("0.005")
USD_PER_GPU_HOUR = Decimal("1")
USD_PER_GIB_MONTH = Decimal("0.1")
SYNTHETIC_SOURCE = "sandbox-synthetic"


def synthetic_list_id(date: str) -> str:
    return f"{SYNTHETIC_SOURCE}-{date}"


def synthetic_price_list(region: str, date: str) -> PriceList:
    lines = [
        PriceLine(resource=t.name, region=region, unit="Hrs", source=SYNTHETIC_SOURCE,
                  usd_per_unit=t.vcpus * USD_PER_VCPU_HOUR + t.memory_gib * USD_PER_GIB_HOUR
                  + t.gpus * USD_PER_GPU_HOUR)
        for t in instance_types() if t.offered_in(region)
    ]
    lines += [PriceLine(resource=storage, region=region, usd_per_unit=USD_PER_GIB_MONTH, unit="GB-Mo",
                        source=SYNTHETIC_SOURCE) for storage in (STATIC_RUN_STORAGE, DYNAMIC_RUN_STORAGE)]
    source = SOURCE.format(vcpu=USD_PER_VCPU_HOUR, gib=USD_PER_GIB_HOUR, gpu=USD_PER_GPU_HOUR,
                           storage=USD_PER_GIB_MONTH)
    return price_list(lines, list_id=synthetic_list_id(date), date=date, source=source)


def install_synthetic_prices(repository: ProvenanceRepository, region: str, now: datetime) -> PriceList:
    """Store the synthetic list and make it the region's current one (idempotent for one date)."""
    prices = synthetic_price_list(region, now.date().isoformat())
    store = PriceStore(repository)
    store.save(prices, region, now.isoformat(), digest=SYNTHETIC_SOURCE)
    store.make_current(prices, region, now.isoformat())
    return prices
