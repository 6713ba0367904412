"""Encoder tests run offline: Hugging Face libraries in offline mode, and any internet connection fails."""
import os
import socket

import pytest

# read by huggingface_hub / transformers at import time
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Weights must come from the package or random init, never from a download."""
    connect = socket.socket.connect

    def refuse(sock, address, *args):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f'network access during an encoder test: {address!r}')
        return connect(sock, address, *args)

    monkeypatch.setattr(socket.socket, 'connect', refuse)
