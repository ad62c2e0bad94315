"""Domain benchmarks: demo cluster generation scaling and taxonomy matching throughput.

Prints ratios against baselines measured in the same run:

* generation of N factories against the 500-factory run (linear scaling gives N/500);
* ``Taxonomy.match`` (and a reused ``Taxonomy.matcher``) with attribute constraints against a
  subsumption-only check over the same 50,000 generated offers.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sharefab.domain.demo_cluster import generate_demo_cluster
from sharefab.domain.taxonomy import load_taxonomy

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def _timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def generation() -> None:
    """Time the generator at 500, 2,000 and 5,000 factories."""
    _, base = _timed(generate_demo_cluster, factories=500, seed=1, now=NOW)
    print(f"{'factories':>10} {'resources':>10} {'seconds':>8} {'x 500-run':>10} {'linear':>7}")
    print(f"{500:>10} {5000:>10} {base:>8.2f} {1.0:>10.2f} {1.0:>7.1f}")
    for n in (2000, 5000):
        demo, secs = _timed(generate_demo_cluster, factories=n, seed=1, now=NOW)
        print(
            f"{n:>10} {len(demo.resources):>10} {secs:>8.2f} {secs / base:>10.2f} {n / 500:>7.1f}"
        )


def matching() -> None:
    """Match one request against 50,000 offers, with and without attribute checks."""
    tax = load_taxonomy()
    demo = generate_demo_cluster(factories=5000, seed=2, now=NOW)
    offers = [(c.code, c.attributes) for r in demo.resources for c in r.capabilities]
    req_code = "separating.machining"
    req = {"tolerance_mm": 0.01, "materials": ["aluminium"], "envelope_mm": [400, 300, 200]}
    (n_sub, t_sub) = _timed(lambda: sum(tax.subsumes(req_code, code) for code, _ in offers))
    (n_match, t_match) = _timed(
        lambda: sum(tax.match(req_code, req, code, attrs).ok for code, attrs in offers)
    )
    fits = tax.matcher(req_code, req)
    (n_matcher, t_matcher) = _timed(lambda: sum(fits(code, attrs).ok for code, attrs in offers))
    assert n_matcher == n_match
    print(f"{len(offers)} offers, request {req_code} {req}")
    print(f"  subsumption only : {t_sub * 1000:8.1f} ms, {n_sub} offers in the subtree (baseline)")
    print(
        f"  full match       : {t_match * 1000:8.1f} ms, {n_match} offers fit "
        f"({t_match / t_sub:.1f}x the baseline)"
    )
    print(
        f"  matcher (reused) : {t_matcher * 1000:8.1f} ms, {n_matcher} offers fit "
        f"({t_matcher / t_sub:.1f}x the baseline)"
    )


def main() -> None:
    """Run both benchmarks."""
    generation()
    matching()


if __name__ == "__main__":
    main()
