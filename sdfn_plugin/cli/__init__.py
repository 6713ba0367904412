"""Library code behind the command-line tools (argument parsing, config loading, config checks).

The runnable scripts live in ``sdfn_plugin/tools`` (what ``mim train|test|run`` executes); they import from
here, never the other way round.
"""
