# ARTEMIS (Delmas et al., ICLR 2022) on the built-in synthetic benchmark, at the budget of tirg_css.py: same
# SmallCNN (coordinate channels, flatten head) + LSTM towers, schedule, batch and seed. ARTEMIS's own parts:
# the EM + IS score (query-dependent, evaluated in gallery chunks through the scorer) and the cross-entropy over
# exp(T) x score with a learnable T initialised to ln(1/0.07). One stage: the towers start from random weights,
# so the paper's frozen-encoder first stage has nothing to freeze (see artemis-stage1_<dataset>.py for real data).
_base_ = ['tirg_css.py']
model = dict(
    fusion=dict(_delete_=True, type='ARTEMIS', image_dim=512, text_dim=512, embed_dim=512),
    scorer=dict(_delete_=True, type='ARTEMISScorer'),
    losses=[dict(type='BatchClassificationLoss', scale=2.65926, learn_scale=True, parametrization='exp')],
)
