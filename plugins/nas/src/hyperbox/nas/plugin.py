"""Entry point of the nas plugin: registration only (components are imported when used)."""

from hyperbox.kernel import hookimpl


@hookimpl
def hyperbox_register_spaces(register):
    register("digits_cnn", "hyperbox.nas.demo_space:DigitsCNNSpace", help="Small CNN space for 8x8 digits (the demo).")


@hookimpl
def hyperbox_register_mutators(register):
    mutators = "hyperbox.nas.mutators"
    register("random", f"{mutators}:RandomMutator", help="Uniform random search.")
    register(
        "evolution",
        f"{mutators}:EvolutionMutator",
        help="Regularised (aging) evolution; NSGA-II for several objectives.",
    )
    for alias in ("backbone_nas", "BackboneNas", "BackboneNasSearch"):  # Vega's backbone search is an evolution
        register(alias, f"{mutators}:EvolutionMutator", help="Vega's backbone search: evolution (an alias).")
    register("darts", f"{mutators}:DartsMutator", help="DARTS: softmax-relaxed architecture weights.")
    register("gdas", f"{mutators}:GDASMutator", help="GDAS: Gumbel-softmax one-hot sampling.")
    register("enas", f"{mutators}:ENASMutator", help="ENAS: LSTM controller trained with REINFORCE.")
    register("mcts", f"{mutators}:MCTSMutator", help="Monte-Carlo tree search over the decisions (UCT).")
    register("moead", f"{mutators}:MOEADMutator", help="MOEA/D: evolution by decomposition for several objectives.")


@hookimpl
def hyperbox_register_trainers(register):
    trainers = "hyperbox.nas.trainers"
    register("standalone", f"{trainers}:StandaloneTrainer", help="Train each architecture from scratch.")
    register("oneshot", f"{trainers}:OneShotTrainer", help="Train a weight-sharing supernet, then search it.")
    register("darts", f"{trainers}:DartsTrainer", help="Bilevel differentiable search (DARTS/GDAS).")


@hookimpl
def hyperbox_register_estimators(register):
    estimators = "hyperbox.nas.estimators"
    register("accuracy", f"{estimators}:AccuracyEstimator", help="Accuracy on a split (BN recalibrated in supernets).")
    register("params", f"{estimators}:ParamsEstimator", help="Parameters of the chosen subnet.")
    register("flops", f"{estimators}:FlopsEstimator", help="Multiply-accumulates on the dataset's input shape.")
    register("latency", f"{estimators}:LatencyEstimator", help="Median forward latency on the device.")


@hookimpl
def hyperbox_register_datasets(register):
    datasets = "hyperbox.nas.datasets"
    register("digits", f"{datasets}:digits", help="scikit-learn's bundled 8x8 digits (no download).")
    register("mnist", f"{datasets}:mnist", help="MNIST IDX files already on disk.")
    register("fashion_mnist", f"{datasets}:fashion_mnist", help="Fashion-MNIST IDX files already on disk.")
    register("cifar10", f"{datasets}:cifar10", help="CIFAR-10 binary batches already on disk.")
    register("image_folder", f"{datasets}:image_folder", help="root/class/image files already on disk.")
    register("synthetic", f"{datasets}:synthetic", help="Random tensors with a learnable rule (tests).")
    register(
        "csv", f"{datasets}:csv", help="A table in a CSV file already on disk (numbers standardised, text one-hot)."
    )


@hookimpl
def hyperbox_export_model(model, input_shape, format, path):
    if not hasattr(model, "named_modules"):  # a torch module; imported only then
        return None
    from hyperbox.nas.export import export_model

    return export_model(model, input_shape, format, path)


@hookimpl
def hyperbox_build_subnet(model, arch):
    if not hasattr(model, "named_modules"):  # a torch module; imported only then
        return None
    from hyperbox.nas.subnet import build_subnet

    return build_subnet(model, arch)
