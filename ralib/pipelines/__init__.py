"""The notebooks' methods as calls: each module runs one paper's pipeline step by step on a data set and a
profile, on top of the tasks, training, results and plots below it (nothing below imports it).

Example:
    >>> from ralib.pipelines.deepra import DeepRA, MAIN
    >>> MAIN
    'detection + attention gate'
"""
