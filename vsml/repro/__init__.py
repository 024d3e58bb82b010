"""The reproduction layer: the pipeline's plan (jobs, cells, hashes), aggregation into tidy CSVs,
the claims table and the paper's figures."""
