"""Golden logits of the tiny Llama models of core/tests/llama.rs, computed by PyTorch
`transformers` (LlamaForCausalLM, eager attention, float32) on the same weights.

    DOPPEL_TINY_LLAMA_DIR=/tmp/tiny cargo test --release -p doppel-core --test llama -- \
        --ignored write_the_tiny_models_for_the_golden_script
    python3 core/tests/golden/llama_logits.py /tmp/tiny > core/tests/golden/llama_logits.json

Made with torch 2.15.0 and transformers 5.25.0 (pip, CPU).
"""
import json
import sys

import torch
from transformers import LlamaForCausalLM

# Two sequences per model; ids below the tiny vocabulary of 96.
IDS = [[1, 17, 42, 5, 88, 3, 64, 29, 11, 95], [2, 2, 50, 73, 8, 31, 0, 60, 19, 44]]

out = {}
for name in ["gqa", "tied"]:
    model = LlamaForCausalLM.from_pretrained(
        f"{sys.argv[1]}/{name}", dtype=torch.float32, attn_implementation="eager"
    )
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor(IDS)).logits
    out[name] = {"ids": IDS, "logits": [[[round(x, 7) for x in p] for p in s] for s in logits.tolist()]}
json.dump(out, sys.stdout)
