"""The campaign's roster of evaluators (评议代表名单) and its import from CSV or XLSX."""
