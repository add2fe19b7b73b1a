"""A DYNAMIC run's storage figure completed after its totals were stored (calculator.with_storage).

The calculator bills dynamic run storage on the run manifest's storageAverageGiB for the run's duration (its
module docstring: the Run Analyzer's rule); the recorder may store the run's totals before that average is
known. Completing them later must give exactly what pricing everything at once gives, so the recorder and the
right-sizer store the same figures whichever acts last. Prices are TEST FIGURES, not AWS prices."""

from __future__ import annotations

from decimal import Decimal

from shared.cost.calculator import RunContext, run_cost_items, run_totals, storage_cost, with_storage
from shared.cost.prices import DYNAMIC_RUN_STORAGE, PriceLine, price_list
from shared.provenance.items import RunDetails, TaskDetails

REGION = "us-east-1"
# Rates with many digits: the figures carry 28 significant digits, compared here to the last one.
PRICES = price_list([PriceLine("omics.c.large", REGION, Decimal("0.3617"), "Hrs"),
                     PriceLine(DYNAMIC_RUN_STORAGE, REGION, Decimal("0.000271"), "GB-Hours")],
                    list_id="test-prices", date="2026-03-01", source="test figures")
RUN = RunDetails(run_id="1", uuid="u-1", root_run_id="1",
                 arn=f"arn:aws:omics:{REGION}:123456789012:run/1", storage_type="DYNAMIC",
                 start_time="2026-03-01T00:00:00Z", stop_time="2026-03-01T01:17:13Z", workflow_id="w")
TASKS = [TaskDetails(task_id=f"t{i}", run_id="1", run_uuid="u-1", name=f"n{i}", instance_type="omics.c.large",
                     start_time="2026-03-01T00:00:00Z", stop_time=f"2026-03-01T00:{7 * i + 3:02d}:{11 * i % 60:02d}Z")
         for i in range(7)]
AVERAGE = 313.37  # TEST FIGURE: the manifest's storageAverageGiB


def test_completing_the_storage_later_equals_pricing_it_at_once() -> None:
    # Given the totals stored without the average (storage unknown), and the storage priced on it later
    first = run_totals(run_cost_items(RUN, TASKS, PRICES))
    assert first["storage"]["basis"] == "usage_unknown" and first["usd"] is None and first["unknown"] == 1
    later = storage_cost(RUN, RunContext.of(RUN), PRICES, AVERAGE)
    # When the later figure completes the stored totals
    completed = with_storage(first, later)
    # Then they are the totals of pricing everything with the average, to the last digit
    assert completed == run_totals(run_cost_items(RUN, TASKS, PRICES, dynamic_average_gib=AVERAGE))
    # 0.000271 USD/GiB-h x 313.37 GiB x 4,633 s / 3,600
    assert Decimal(completed["storage_usd"]) == Decimal("0.000271") * Decimal("313.37") * 4633 / 3600
    assert completed["storage"]["price_list_id"] == "test-prices" and completed["unknown"] == 0
    # and completing them again with the same figure changes nothing
    assert with_storage(completed, later) == completed


def test_without_a_dynamic_storage_price_the_figure_stays_unknown_never_zero() -> None:
    # Given a price list without dynamic run storage
    prices = price_list([PriceLine("omics.c.large", REGION, Decimal("0.36"), "Hrs")],
                        list_id="no-storage", date="2026-03-02", source="test figures")
    first = run_totals(run_cost_items(RUN, TASKS, prices))
    # When the average arrives
    completed = with_storage(first, storage_cost(RUN, RunContext.of(RUN), prices, AVERAGE))
    # Then the storage is unknown for want of a price (not 0), and says which list lacked it
    figure = completed["storage"]
    assert (figure["basis"], figure.get("usd"), figure["price_list_id"]) == ("price_unknown", None, "no-storage")
    assert completed["storage_usd"] is None and completed["usd"] is None and completed["unknown"] == 1
    assert completed["known_usd"] == first["known_usd"]


def test_a_storage_figure_priced_on_a_newer_list_names_that_list() -> None:
    # Given totals stored on one list, then the storage priced on a newer list
    first = run_totals(run_cost_items(RUN, TASKS, PRICES))
    newer = price_list(list(PRICES.lines.values()), list_id="newer", date="2026-04-01", source="test figures")
    completed = with_storage(first, storage_cost(RUN, RunContext.of(RUN), newer, AVERAGE))
    # Then the figure names its list, and the totals the latest list among their figures
    assert completed["storage"]["price_list_id"] == "newer"
    assert (completed["price_list_id"], completed["price_list_date"]) == ("newer", "2026-04-01")


def test_static_storage_is_recorded_beside_the_totals_too() -> None:
    # Given a STATIC run (its capacity is known from GetRun)
    static = RUN.model_copy(update={"storage_type": "STATIC", "storage_capacity": 1000})
    # Then its storage figure is priced at once, on 1,200 GiB (the guide's rounding); no price -> unknown
    figure = run_totals(run_cost_items(static, TASKS, PRICES))["storage"]
    assert (figure["basis"], figure["charged_gib"]) == ("price_unknown", "1200")
