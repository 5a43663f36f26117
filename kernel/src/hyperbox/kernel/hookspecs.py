"""Hook specifications: the whole plugin contract.

A plugin is a module named by an entry point in the ``hyperbox.plugins`` group; it implements any
of these hooks with ``@hookimpl``. Registration hooks receive a ``register`` callback owned by the
kernel::

    register(name, factory, help=None)

``factory`` is the callable itself or a lazy ``"package.module:attr"`` string, imported only when
the component is used, so listing components imports nothing heavy. A name registered by two
plugins is an error naming both.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("hyperbox")
hookimpl = pluggy.HookimplMarker("hyperbox")


@hookspec
def hyperbox_register_spaces(register):
    """Register search spaces (networks or parameter sets).

    Called once, when the kernel first needs the component registry, with ``register(name,
    factory, help=None)``. The factory is called with the experiment's ``space`` arguments; arguments named
    ``num_classes``, ``in_channels`` or ``input_shape`` that the experiment leaves out are filled
    from the dataset, and one named ``build_space`` receives a function that builds another
    space from its name or ``{name: ..., **arguments}`` (for a space made of another). It returns
    the model (whose mutables are searched).
    """


@hookspec
def hyperbox_register_mutators(register):
    """Register search algorithms.

    Called once, when the kernel first needs the component registry, with ``register(name,
    factory, help=None)``. The factory is called as
    ``factory(model, seed=..., **arguments)`` and returns a :class:`hyperbox.kernel.Mutator`
    (checked by ``hyperbox.kernel.testing.MutatorTestCase``). The engine calls ``reset()`` for each
    trial, and ``reset(claim)`` when a shared study hands it a trial to evaluate again: a mutator
    overriding ``reset`` takes that optional argument.
    """


@hookspec
def hyperbox_register_estimators(register):
    """Register estimators (metrics of a trained model).

    Called once, when the kernel first needs the component registry, with ``register(name,
    factory, help=None)``. The factory is called with
    the experiment's arguments and returns a callable ``estimator(model, data, context)`` that
    returns a mapping of metric name to number (``hyperbox.kernel.testing.EstimatorTestCase``
    checks one).
    """


@hookspec
def hyperbox_register_trainers(register):
    """Register trainers.

    Called once, when the kernel first needs the component registry, with ``register(name,
    factory, help=None)``. The factory is called with
    the experiment's arguments and returns an object with ``trial(model, arch, data, context)``
    (returns the model to estimate for ``arch``) and optionally ``fit(model, mutator, data,
    context)`` (a search phase before the trials: supernet training, differentiable search).
    ``context`` is a :class:`hyperbox.kernel.Context` (seed, device, log, trial, ``state_path``,
    ``report``); ``hyperbox.kernel.testing.TrainerTestCase`` checks a trainer against this.
    """


@hookspec
def hyperbox_register_datasets(register):
    """Register datasets.

    Called once, when the kernel first needs the component registry, with ``register(name,
    factory, help=None)``. The factory is called with
    the experiment's arguments plus ``seed`` and returns the data object handed to trainers and
    estimators; its optional ``num_classes``, ``in_channels`` and ``input_shape`` attributes are
    passed on to the space.
    """


@hookspec
def hyperbox_register_blocks(register):
    """Register network blocks that composed networks name by their ``type``.

    Called once, when the kernel first needs the component registry, with ``register(name,
    factory, help=None)``: a composed network (the ``compose`` space, Vega's ``FineGrainedSpace``)
    builds each of its modules, ``{type: NAME, argument: value, ...}``, by calling the block's
    factory with those arguments; a nested ``{type: NAME, ...}`` argument (``block: {type:
    BasicBlock}``) is handed to the factory as a factory of that block, for it to build as many as
    it needs. ``hbk list blocks`` lists them.
    """


@hookspec
def hyperbox_register_augmentations(register):
    """Register batch augmentations that trainers apply to training batches (``trainer: {augment: NAME}``).

    Called once, when the kernel first needs the component registry, with ``register(name,
    factory, help=None)``. A trainer argument named ``augment`` is resolved here before the
    trainer is built: ``none`` gives None (an empty value is an error), a file name ending in
    ``.json`` is the augmentation registered as ``policy`` (the ada plugin's; another plugin may
    register that name instead) called with ``path=FILE``, and ``NAME`` or ``{name: NAME,
    **arguments}`` calls that factory with the arguments, plus ``in_channels`` and ``input_shape``
    from the dataset where it takes them. The factory returns the batch transform: a callable
    (usually a ``torch.nn.Module``) from a batch of inputs to a batch of the same shape, which the
    trainer moves to its device and applies to training batches only. ``hbk list augmentations``
    lists them.
    """


@hookspec(firstresult=True)
def hyperbox_export_parts(space, subnet, arch, directory):
    """Write the parts of a found model that are not its network, and return the network.

    Called by ``hbk export RUNDIR -o DIR`` with the run's searched ``space`` (rebuilt from the
    run's ``config.yaml`` and the data shape it recorded, without its dataset), the plain ``subnet``
    of its best architecture ``arch`` (JSON form; trained weights loaded) and the output folder
    ``directory`` (a :class:`pathlib.Path`, created). A plugin whose space puts something in
    front of the network (an augmentation policy) writes that part as its own files and returns
    ``(network, written_paths)``: the network is what the export then writes (``weights.pt``
    holds its keys only; ``--format torchscript/onnx`` export it). Return None for a space this
    plugin does not know (when no plugin claims the space, ``weights.pt`` is a copy of the run's weights).
    """


@hookspec
def hyperbox_register_commands(register):
    """Register ``hbk`` sub-commands.

    Called once, when the CLI starts. ``register(name, main, help="one line")``: ``main`` (or its
    ``"module:attr"``) is called as ``main(argv: list[str]) -> int | None`` with the arguments that
    follow the command name.
    """


@hookspec
def hyperbox_register_storages(register):
    """Register storages: where the trials of a run are recorded and shared between workers.

    Called once, when the kernel first needs the component registry, with ``register(name,
    factory, help=None)``; ``name`` is a URL scheme (``sqlite``, ``postgresql``, ...) and an
    experiment's ``storage: URL`` (or ``hbk run --storage URL``) picks the factory by the URL's
    scheme. The factory returns a :class:`hyperbox.kernel.ledger.Ledger` (checked by
    ``hyperbox.kernel.testing.LedgerTestCase``): it is called as
    ``factory(url, experiment=EXPERIMENT_JSON, study=NAME, **options)`` to create a record
    holding the experiment and its whole trial budget, and as ``factory(url, study=NAME)`` for a
    worker joining it (``hbk worker``). ``options`` are the experiment's
    ``storage: {url: ..., option: value}`` entries. A search asked to join a study that may exist
    already (``Search(..., load_if_exists=True)``) adds ``load_if_exists=True`` to the first call.
    """


@hookspec(firstresult=True)
def hyperbox_build_subnet(model, arch):
    """Build the plain model of ``model`` (a searched space) cut to ``arch`` (JSON form).

    Called by ``SearchResult.best_model()`` when the search kept no trained model of the best
    trial; the first plugin that returns a model wins. Return None for a ``model`` this plugin
    does not know. The nas plugin builds every ``torch.nn.Module`` space (``build_subnet``).
    """


@hookspec(firstresult=True)
def hyperbox_export_model(model, input_shape, format, path):
    """Write ``model`` (the plain model of a run's best architecture, its trained weights loaded)
    to ``path`` in ``format`` (``torchscript``, ``onnx``), so that it runs without Hyperbox.

    Called by ``hbk export RUNDIR --format FORMAT``; ``input_shape`` is the shape of one sample of
    the run's dataset (``(channels, height, width)`` for images). The first plugin that returns
    the path it wrote wins; return None for a model this plugin does not know. The nas plugin
    exports every ``torch.nn.Module``.
    """


@hookspec
def hyperbox_run_start(run):
    """A search starts (or resumes), before its first trial and before a trainer's search phase.

    ``run`` is a read-only :class:`hyperbox.kernel.context.RunInfo`: ``name``, ``directory``
    (None for a search kept in memory), ``objectives``, ``directions``, ``seed``, the budget,
    ``resumed``, ``trials`` (those recorded before) and ``config`` (the experiment, JSON form).
    """


@hookspec
def hyperbox_run_end(run, summary):
    """A search ended (``run`` as in ``hyperbox_run_start``, its ``trials`` complete); ``summary`` is
    its summary, as ``summary.json`` holds it (a worker sharing another's directory writes none)."""


@hookspec
def hyperbox_trial_start(run, trial):
    """A trial starts: ``trial`` is its :class:`hyperbox.kernel.trial.TrialRecord` (``number``,
    ``arch``, ``values``, ``seed``; ``state`` is ``running``)."""


@hookspec
def hyperbox_trial_end(run, trial):
    """A trial ended: ``trial`` is its final :class:`hyperbox.kernel.trial.TrialRecord`; ``state`` is
    ``complete``, ``pruned`` or ``failed``, ``metrics`` holds its results and ``error`` why it failed."""


@hookspec
def hyperbox_epoch_end(run, trial, epoch, metrics):
    """A trainer (or an objective, through ``trial.report``) finished epoch ``epoch`` (0-based) of
    ``trial`` (its running :class:`hyperbox.kernel.trial.TrialRecord`; None during a trainer's
    ``fit`` phase) with ``metrics`` (a mapping name -> number)."""
