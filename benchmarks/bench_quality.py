"""Estimator quality without training: relative bias and standard deviation of the
operator estimate against the exact value (``stde_bench.quality``), as a function of
|J|, on a fixed random network.  The paper leaves variance to future work."""

from __future__ import annotations

from benchmarks.common import PROFILE, SkipNotImplemented

GRID = PROFILE.quality


class EstimatorQuality:
    params = (list(GRID.problems), list(GRID.estimators), list(GRID.dims), list(GRID.samples))
    param_names = ["problem", "estimator", "dim", "samples"]
    timeout = 3600

    def setup_cache(self):
        from stde_bench.quality import measure_quality

        results = {}
        for p in GRID.problems:
            for e in GRID.estimators:
                for d in GRID.dims:
                    for s in GRID.samples:
                        try:
                            results[p, e, d, s] = measure_quality(p, e, d, s)
                        except ValueError as err:
                            results[p, e, d, s] = {"skipped": str(err)}
        return results

    def _get(self, results, problem, estimator, dim, samples, field):
        entry = results[problem, estimator, dim, samples]
        if field not in entry:
            raise SkipNotImplemented(entry.get("skipped", "not measured"))
        return entry[field]

    def track_rel_std(self, results, problem, estimator, dim, samples):
        return self._get(results, problem, estimator, dim, samples, "rel_std")

    track_rel_std.unit = "relative std"

    def track_rel_bias(self, results, problem, estimator, dim, samples):
        return self._get(results, problem, estimator, dim, samples, "rel_bias")

    track_rel_bias.unit = "relative bias"
