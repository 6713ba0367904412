# SDFN ablation (paper Table 3, row "Baseline (uniform routing, L_bbc only)") on fashioniq: router='none', consistency=False, SPD=False.
_base_ = ['../sdfn_fashioniq.py']
model = dict(
    fusion=dict(router='none'),
    losses=[
        dict(type='BatchClassificationLoss', scale=10.0),
    ])
