# SDFN ablation (paper Table 3, row "Baseline w/ SR") on shoes: router='shared', consistency=False, SPD=False.
_base_ = ['../sdfn_shoes.py']
model = dict(
    fusion=dict(router='shared'),
    losses=[
        dict(type='BatchClassificationLoss', scale=10.0),
    ])
