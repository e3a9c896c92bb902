"""fute's benchmarks: one module each (``python -m benchmarks.<name>``), on the shared
harness of `benchmarks.harness`. Results land in benchmarks/results/.

Every benchmark runs offline on the cached registry data and models: importing this
package sets the offline switches of the Hugging Face libraries (unless already set).
"""

import os

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
