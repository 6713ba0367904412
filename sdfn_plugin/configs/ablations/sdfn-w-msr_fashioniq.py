# SDFN ablation (paper Table 3, row "Baseline w/ MSR") on fashioniq: router='msr', consistency=False, SPD=False.
_base_ = ['../sdfn_fashioniq.py']
model = dict(
    fusion=dict(router='msr'),
    losses=[
        dict(type='BatchClassificationLoss', scale=10.0),
    ])
