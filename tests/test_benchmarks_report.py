"""How ``python -m benchmarks`` turns a row's plain ``{key: number}`` dict into results (``as_results``)."""

from benchmarks.__main__ import as_results


def test_ratio_keys_become_results_described_by_the_numbers_they_compare():
    results = as_results({"local": 5708.31, "client": 5063.24, "local CPU": 0.1997, "client CPU": 0.2519,
                          "ratio client / local": 0.887, "ratio client CPU / local CPU": 1.26,
                          "ratio keep-alive / no keep-alive": 1.04})
    described = {result["name"]: result["description"] for result in results}
    assert described == {"client / local": "client 5063.2 vs local 5708.3",
                         # small numbers keep three significant digits (one decimal read "0.3 vs 0.2")
                         "client CPU / local CPU": "client CPU 0.252 vs local CPU 0.2",
                         "keep-alive / no keep-alive": "ratio keep-alive / no keep-alive"}
    assert [result["ratio"] for result in results] == [0.887, 1.26, 1.04]
    assert all(result["details"]["client CPU"] == 0.2519 for result in results)
