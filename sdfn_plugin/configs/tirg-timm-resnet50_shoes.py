# TIRG on Shoes with a timm ResNet-50 (ImageNet weights through timm's pretrained mechanism) instead of the
# torchvision ResNet-18: global average pool + Linear 512 (TimmEncoder pooling='head' + out_dim), the rest
# (LSTM text encoder, TIRG, loss, schedule) is tirg_shoes.py. Offline: pretrained=False, or
# pretrained_cfg_overlay=dict(file='/path/resnet50.pth') with pretrained=True, or checkpoint='/path/resnet50.pth'.
_base_ = ['tirg_shoes.py']
model = dict(image_encoder=dict(_delete_=True, type='TimmEncoder', model_name='resnet50', pretrained=True,
                                out_dim=512))
