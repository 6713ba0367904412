"""Arguments shared by the retrieval tools (``retrieve``, ``demo``)."""
import argparse


def add_model_and_index_args(parser: argparse.ArgumentParser) -> None:
    """``CONFIG CHECKPOINT --index DIR --device D``: the model and the gallery it searches."""
    parser.add_argument('config', help='config file or shipped config name (e.g. tirg_css)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--index', required=True, help='gallery index directory (tools/build_index.py), or a '
                                                       'folder of images to encode on the fly')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0 (default cpu)')
