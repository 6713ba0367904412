# FiLM (Perez et al., AAAI 2018) as the TIRG paper's composition baseline on fashioniq: everything as tirg_fashioniq.py
# (ImageNet ResNet-18, LSTM 512, TIRG's loss and schedule, this dataset's protocol), only the fusion differs.
# With the mean-pooled ResNet tokens, modulating the 7x7 map then averaging equals FiLM on the pooled vector.
_base_ = ['tirg_fashioniq.py']
model = dict(fusion=dict(_delete_=True, type='FiLM', image_dim=512, text_dim=512, embed_dim=512, pool='mean'))
