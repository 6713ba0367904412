# SDFN ablation (paper Table 3, row "Baseline w/ L_c") on shoes: router='none', consistency=True, SPD=False.
_base_ = ['../sdfn_shoes.py']
model = dict(
    fusion=dict(router='none'),
    losses=[
        dict(type='BatchClassificationLoss', scale=10.0),
        dict(type='GramConsistencyLoss', loss_weight=1.0),
    ])
