"""The exact set of types a skops model file may hold to load without `trust=True`.

skops rebuilds objects by name, so whatever name a file carries decides what
runs on load and, later, on every `predict`. A name is trusted here only if it
is listed below in full; nothing is trusted for the module it lives in. Kept
out on purpose, however harmless their defaults look:
- functions, methods, `functools.partial`, `operator.*` callables, numpy
  ufuncs: their job is to be called, so a file could name `builtins.eval`;
- classes whose job is to call a callable they hold (`FunctionTransformer`,
  `TransformedTargetRegressor`, `PyFuncDistance*`, scorers) and the search
  wrappers that hold scorers and splitters (`GridSearchCV`,
  `RandomizedSearchCV`): register their `best_estimator_` instead.

Estimators are listed by the public package that exports them and are matched
by identity (the class the package exports must live where the file says it
does), so the list survives scikit-learn moving a class between its private
modules. The fitted-state helpers are private classes and are listed by their
full name.
"""

from __future__ import annotations

# Every scikit-learn estimator class that `mw train` or `log_model` may write, by
# the public package that exports it (scikit-learn's `all_estimators()` and
# Pipeline, less the classes named in the module docstring).
_PUBLIC_ESTIMATORS = """
sklearn.calibration: CalibratedClassifierCV
sklearn.cluster: AffinityPropagation AgglomerativeClustering Birch BisectingKMeans DBSCAN
    FeatureAgglomeration HDBSCAN KMeans MeanShift MiniBatchKMeans OPTICS SpectralBiclustering
    SpectralClustering SpectralCoclustering
sklearn.compose: ColumnTransformer
sklearn.covariance: EllipticEnvelope EmpiricalCovariance GraphicalLasso GraphicalLassoCV
    LedoitWolf MinCovDet OAS ShrunkCovariance
sklearn.cross_decomposition: CCA PLSCanonical PLSRegression PLSSVD
sklearn.decomposition: DictionaryLearning FactorAnalysis FastICA IncrementalPCA KernelPCA
    LatentDirichletAllocation MiniBatchDictionaryLearning MiniBatchNMF MiniBatchSparsePCA NMF
    PCA SparseCoder SparsePCA TruncatedSVD
sklearn.discriminant_analysis: LinearDiscriminantAnalysis QuadraticDiscriminantAnalysis
sklearn.dummy: DummyClassifier DummyRegressor
sklearn.ensemble: AdaBoostClassifier AdaBoostRegressor BaggingClassifier BaggingRegressor
    ExtraTreesClassifier ExtraTreesRegressor GradientBoostingClassifier
    GradientBoostingRegressor HistGradientBoostingClassifier HistGradientBoostingRegressor
    IsolationForest RandomForestClassifier RandomForestRegressor RandomTreesEmbedding
    StackingClassifier StackingRegressor VotingClassifier VotingRegressor
sklearn.feature_extraction: DictVectorizer FeatureHasher
sklearn.feature_extraction.image: PatchExtractor
sklearn.feature_extraction.text: CountVectorizer HashingVectorizer TfidfTransformer
    TfidfVectorizer
sklearn.feature_selection: GenericUnivariateSelect RFE RFECV SelectFdr SelectFpr SelectFromModel
    SelectFwe SelectKBest SelectPercentile SequentialFeatureSelector VarianceThreshold
sklearn.frozen: FrozenEstimator
sklearn.gaussian_process: GaussianProcessClassifier GaussianProcessRegressor
sklearn.impute: KNNImputer MissingIndicator SimpleImputer
sklearn.isotonic: IsotonicRegression
sklearn.kernel_approximation: AdditiveChi2Sampler Nystroem PolynomialCountSketch RBFSampler
    SkewedChi2Sampler
sklearn.kernel_ridge: KernelRidge
sklearn.linear_model: ARDRegression BayesianRidge ElasticNet ElasticNetCV GammaRegressor
    HuberRegressor Lars LarsCV Lasso LassoCV LassoLars LassoLarsCV LassoLarsIC LinearRegression
    LogisticRegression LogisticRegressionCV MultiTaskElasticNet MultiTaskElasticNetCV
    MultiTaskLasso MultiTaskLassoCV OrthogonalMatchingPursuit OrthogonalMatchingPursuitCV
    PassiveAggressiveClassifier PassiveAggressiveRegressor Perceptron PoissonRegressor
    QuantileRegressor RANSACRegressor Ridge RidgeCV RidgeClassifier RidgeClassifierCV
    SGDClassifier SGDOneClassSVM SGDRegressor TheilSenRegressor TweedieRegressor
sklearn.manifold: ClassicalMDS Isomap LocallyLinearEmbedding MDS SpectralEmbedding TSNE
sklearn.mixture: BayesianGaussianMixture GaussianMixture
sklearn.model_selection: FixedThresholdClassifier TunedThresholdClassifierCV
sklearn.multiclass: OneVsOneClassifier OneVsRestClassifier OutputCodeClassifier
sklearn.multioutput: ClassifierChain MultiOutputClassifier MultiOutputRegressor RegressorChain
sklearn.naive_bayes: BernoulliNB CategoricalNB ComplementNB GaussianNB MultinomialNB
sklearn.neighbors: KNeighborsClassifier KNeighborsRegressor KNeighborsTransformer KernelDensity
    LocalOutlierFactor NearestCentroid NearestNeighbors NeighborhoodComponentsAnalysis
    RadiusNeighborsClassifier RadiusNeighborsRegressor RadiusNeighborsTransformer
sklearn.neural_network: BernoulliRBM MLPClassifier MLPRegressor
sklearn.pipeline: FeatureUnion Pipeline
sklearn.preprocessing: Binarizer KBinsDiscretizer KernelCenterer LabelBinarizer LabelEncoder
    MaxAbsScaler MinMaxScaler MultiLabelBinarizer Normalizer OneHotEncoder OrdinalEncoder
    PolynomialFeatures PowerTransformer QuantileTransformer RobustScaler SplineTransformer
    StandardScaler TargetEncoder
sklearn.random_projection: GaussianRandomProjection SparseRandomProjection
sklearn.semi_supervised: LabelPropagation LabelSpreading SelfTrainingClassifier
sklearn.svm: LinearSVC LinearSVR NuSVC NuSVR OneClassSVM SVC SVR
sklearn.tree: DecisionTreeClassifier DecisionTreeRegressor ExtraTreeClassifier
    ExtraTreeRegressor
"""

# Classes that fitted estimators hold as state (trees, losses, kernels, metrics), and
# modelward's own trainers, which may sit inside a scikit-learn Pipeline.
_STATE_CLASSES = """
sklearn.tree._tree.Tree
sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor
sklearn.ensemble._hist_gradient_boosting.binning._BinMapper
sklearn.calibration._CalibratedClassifier
sklearn.calibration._SigmoidCalibration
sklearn.cluster._bisect_k_means._BisectingTree
sklearn.gaussian_process._gpc._BinaryGaussianProcessClassifierLaplace
sklearn.neural_network._stochastic_optimizers.AdamOptimizer
sklearn.neural_network._stochastic_optimizers.SGDOptimizer
sklearn.neighbors._kd_tree.KDTree
sklearn.neighbors._ball_tree.BallTree
sklearn.utils._bunch.Bunch
scipy.interpolate._bsplines.BSpline
scipy.interpolate._interpolate.interp1d
modelward.training.linear.LinearRegression
modelward.training.linear.LogisticRegression
"""

# Families of state classes in one module each: `module: Name Name ...`.
_STATE_FAMILIES = """
sklearn._loss.loss: AbsoluteError ExponentialLoss HalfBinomialLoss HalfGammaLoss
    HalfMultinomialLoss HalfPoissonLoss HalfSquaredError HalfTweedieLoss HalfTweedieLossIdentity
    HuberLoss PinballLoss
sklearn._loss._loss: CyAbsoluteError CyExponentialLoss CyHalfBinomialLoss CyHalfGammaLoss
    CyHalfMultinomialLoss CyHalfPoissonLoss CyHalfSquaredError CyHalfTweedieLoss
    CyHalfTweedieLossIdentity CyHuberLoss CyPinballLoss
sklearn._loss.link: HalfLogitLink IdentityLink Interval LogLink LogitLink MultinomialLogit
sklearn.linear_model._sgd_fast: EpsilonInsensitive Hinge ModifiedHuber SquaredEpsilonInsensitive
    SquaredHinge
sklearn.gaussian_process.kernels: CompoundKernel ConstantKernel DotProduct ExpSineSquared
    Exponentiation Hyperparameter Matern PairwiseKernel Product RBF RationalQuadratic Sum
    WhiteKernel
sklearn.metrics._dist_metrics: BrayCurtisDistance32 BrayCurtisDistance64 CanberraDistance32
    CanberraDistance64 ChebyshevDistance32 ChebyshevDistance64 DiceDistance32 DiceDistance64
    EuclideanDistance32 EuclideanDistance64 HammingDistance32 HammingDistance64
    HaversineDistance32 HaversineDistance64 JaccardDistance32 JaccardDistance64
    MahalanobisDistance32 MahalanobisDistance64 ManhattanDistance32 ManhattanDistance64
    MatchingDistance32 MatchingDistance64 MinkowskiDistance32 MinkowskiDistance64
    RogersTanimotoDistance32 RogersTanimotoDistance64 RussellRaoDistance32 RussellRaoDistance64
    SEuclideanDistance32 SEuclideanDistance64 SokalMichenerDistance32 SokalMichenerDistance64
    SokalSneathDistance32 SokalSneathDistance64
"""

# Plain value types: containers, scalars and the numpy array machinery skops rebuilds itself.
_VALUE_TYPES = """
builtins: bool bytearray bytes complex dict float int list set slice str tuple NoneType
numpy: ndarray dtype bool_ float16 float32 float64 longdouble complex64 complex128 int8 int16
    int32 int64 uint8 uint16 uint32 uint64 str_ bytes_ object_ datetime64 timedelta64
numpy.ma: MaskedArray
numpy.ma.core: MaskedArray
numpy.random.mtrand: RandomState
numpy.random._generator: Generator
numpy.random: PCG64 PCG64DXSM MT19937 Philox SFC64
collections: defaultdict OrderedDict
scipy.sparse._csr: csr_matrix csr_array
scipy.sparse._csc: csc_matrix csc_array
scipy.sparse._coo: coo_matrix coo_array
"""


def _families(block: str) -> dict[str, frozenset[str]]:
    """`module: A B` lines (continued by indented lines) -> {module: {A, B}}."""
    families: dict[str, set[str]] = {}
    module = ""
    for line in block.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            module, _, line = line.partition(":")
            families.setdefault(module, set())
        families[module].update(line.split())
    return {name: frozenset(classes) for name, classes in families.items()}


def _full_names(block: str) -> frozenset[str]:
    return frozenset(line.strip() for line in block.splitlines() if line.strip())


PUBLIC_ESTIMATORS: dict[str, frozenset[str]] = _families(_PUBLIC_ESTIMATORS)
STATE_CLASSES: frozenset[str] = _full_names(_STATE_CLASSES) | frozenset(
    f"{module}.{name}" for module, names in _families(_STATE_FAMILIES).items() for name in names
)
VALUE_TYPES: frozenset[str] = frozenset(
    f"{module}.{name}" for module, names in _families(_VALUE_TYPES).items() for name in names
)
