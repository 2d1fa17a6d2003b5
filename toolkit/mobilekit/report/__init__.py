"""Reports: latency results (host and phone) and recipe results as tables and plots.

`bench.schema.json` is the format `mobilekit bench` writes and the Android demo
writes on a phone; `mobilekit report` reads both beside recipe runs.
"""
