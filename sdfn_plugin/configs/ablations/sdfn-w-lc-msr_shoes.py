# SDFN ablation (paper Table 3, row "Baseline w/ L_c + MSR") on shoes: router='msr', consistency=True, SPD=False.
_base_ = ['../sdfn_shoes.py']
model = dict(
    fusion=dict(router='msr'),
    losses=[
        dict(type='BatchClassificationLoss', scale=10.0),
        dict(type='GramConsistencyLoss', loss_weight=1.0),
    ])
