# SDFN ablation (paper Table 3, row "Baseline w/ L_c + SR") on fashioniq: router='shared', consistency=True, SPD=False.
_base_ = ['../sdfn_fashioniq.py']
model = dict(
    fusion=dict(router='shared'),
    losses=[
        dict(type='BatchClassificationLoss', scale=10.0),
        dict(type='GramConsistencyLoss', loss_weight=1.0),
    ])
