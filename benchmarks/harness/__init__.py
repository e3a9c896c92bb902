"""What the benchmarks share.

* `results`: where results go, the flags every benchmark takes, result files;
* `provenance`: the command, commit, versions and machine of a run, and its markdown;
* `stages`: the wall time of each stage of a run (the progress log);
* `cache`: the disk cache of expensive steps under ``$FUTE_CACHE/bench/``;
* `carry`: copies those cached stages to a folder and back (``python -m
  benchmarks.harness.carry save|restore|status``), so a run resumes on another machine;
* `embeddings`: the selection benchmarks' cached DTEs and MTEs, and centred-cosine's centres;
* `scores`: ranking metrics, summaries over seeds, similarity scores, seeded draws;
* `tables`: markdown tables and the lines both selection results share;
* `parts`: a run cut into parts (``--part``) and their merge (``--merge``);
* `selection`: `SelectionBenchmark`, the run skeleton of the two selection benchmarks.
"""
