"""Replaying histories: what a record is and its limits (records), the readers of JSON Lines, CSV and
Parquet (readers), filters, time order and the external sort (history), and the simulation that decides
them again (simulate; on Apache Spark, spark).

May import: policy_lang, engine.decide and engine.replay; never engine.live or engine.report.
"""
