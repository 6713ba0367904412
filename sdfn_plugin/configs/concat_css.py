# Concat baseline on the synthetic benchmark (same encoders, loss and schedule as tirg_css.py).
_base_ = ['tirg_css.py']
model = dict(fusion=dict(_delete_=True, type='Concat', image_dim=512, text_dim=512, embed_dim=512))
