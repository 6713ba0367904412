# FiLM (Perez et al., AAAI 2018) on the built-in synthetic benchmark, at the budget of tirg_css.py: same
# SmallCNN (coordinate channels, flatten head) + LSTM towers, TIRG's loss, schedule, batch and seed; only the
# fusion differs. The text modulates the 4x4 = 16 region tokens, then a Linear over the flattened modulated map
# pools them (the position-aware counterpart of the encoder's own flatten head, which makes the target).
_base_ = ['tirg_css.py']
model = dict(fusion=dict(_delete_=True, type='FiLM', image_dim=512, text_dim=512, embed_dim=512, pool='flatten',
                         num_tokens=16))
