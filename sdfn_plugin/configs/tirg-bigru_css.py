# TIRG on the synthetic benchmark with a bidirectional GRU text encoder instead of the LSTM (2 x 256 = 512, then
# the same Linear 512); everything else is tirg_css.py. Masked max pooling over words: with pooling='last' the
# backward direction would contribute its output at the last word, which has read only that word.
_base_ = ['tirg_css.py']
model = dict(text_encoder=dict(rnn='gru', bidirectional=True, hidden_dim=256, pooling='max'))
