"""The batch scorer: `python -m scorer INPUT... --out FILE` (console script `fashion-mnist-score`).

A run flows one way through these modules:

    cli      arguments, the model (local or --url), the summary, the report, exit codes
    sources  what to score: inputs planned in order, folders walked, cut into batches
    readers  files to pixels: image files, IDX, .npy and CSV arrays
    pool     the local engine: worker processes that score image files in parallel
    ray_engine  the ray engine (--engine ray): the same batches on Ray Data
    run      the scoring loop: batches to rows, written in order, counted
    remote   the --url client, the local model's stand-in
    writers  rows to CSV, JSON Lines or stdout (parquet_writer: Parquet)
    report   accuracy, per-class accuracy and confusion matrix

The prediction itself is the server's (inference.decode, inference.predictor), so a file scores the same
here as over HTTP.
"""
