"""cuda_library: .cu.cc sources compiled with nvcc, for linking into an op library.

Bazel 4 has no CUDA rules of its own, and TensorFlow's (@local_config_cuda with
its nvcc-wrapping crosstool) expect a CUDA install laid out like TensorFlow's
build machines; one nvcc action per kernel file is all an op library needs.
The objects go into a cc_library (alwayslink) linked into the op's .so. Their
CUDA runtime calls resolve against libtensorflow_framework.so.2, which exports
the runtime API, so no libcudart is linked. Objects hold SASS for sm_80 and
sm_90 and compute_90 PTX (CUDA_GENCODE); pass gencode = [...] for others.
nvcc is the one configure.sh found (tools/find_nvcc.sh: a CUDA 12 nvcc when
there is one, to match the TensorFlow wheel's CUDA 12.5 runtime).
"""

# SASS for A100 (sm_80) and H100/H200 (sm_90), which then run without JIT,
# plus compute_90 PTX that the driver JIT-compiles for newer GPUs. The
# standalone harness builds the same list (custom_ops/spectral/bench/Makefile).
CUDA_GENCODE = [
    "-gencode=arch=compute_80,code=sm_80",
    "-gencode=arch=compute_90,code=sm_90",
    "-gencode=arch=compute_90,code=compute_90",
]

def _cuda_object_impl(ctx):
    compilation = cc_common.merge_cc_infos(
        cc_infos = [dep[CcInfo] for dep in ctx.attr.deps],
    ).compilation_context
    out = ctx.actions.declare_file(ctx.label.name + ".pic.o")
    args = ctx.actions.args()
    args.add_all(["-x", "cu", "-c", "-Xcompiler", "-fPIC", "-DGOOGLE_CUDA=1"])
    args.add_all(["--expt-relaxed-constexpr", "--expt-extended-lambda"])
    if ctx.var["COMPILATION_MODE"] == "opt":
        args.add_all(["-O3", "-DNDEBUG"])
    elif ctx.var["COMPILATION_MODE"] == "dbg":
        args.add("-g")
    args.add_all(ctx.attr.gencode)
    args.add_all(ctx.attr.copts)
    args.add_all(compilation.defines, format_each = "-D%s")

    # nvcc has no -iquote: quote includes become -I.
    args.add_all(compilation.quote_includes, before_each = "-I")
    args.add_all(compilation.includes, before_each = "-I")
    args.add_all(compilation.system_includes, before_each = "-isystem")
    args.add("-o", out)
    args.add(ctx.file.src)
    ctx.actions.run_shell(
        # NVCC comes from .tf_configure.bazelrc (build:cuda --action_env=NVCC=...).
        command = '"${NVCC:-nvcc}" "$@"',
        arguments = [args],
        inputs = depset([ctx.file.src] + ctx.files.hdrs, transitive = [compilation.headers]),
        outputs = [out],
        use_default_shell_env = True,
        mnemonic = "NvccCompile",
        progress_message = "Compiling %s with nvcc" % ctx.file.src.short_path,
    )
    return [DefaultInfo(files = depset([out]))]

_cuda_object = rule(
    implementation = _cuda_object_impl,
    attrs = {
        "src": attr.label(allow_single_file = [".cu.cc", ".cu"], mandatory = True),
        "hdrs": attr.label_list(allow_files = [".h"]),
        "deps": attr.label_list(providers = [CcInfo]),
        "copts": attr.string_list(),
        "gencode": attr.string_list(),
    },
)

def cuda_library(name, srcs, hdrs = [], deps = [], copts = [], gencode = CUDA_GENCODE, **kwargs):
    """A cc_library of `srcs` (.cu.cc) compiled by nvcc with -DGOOGLE_CUDA=1 and -fPIC.

    Args:
      name: the cc_library's name.
      srcs: CUDA sources, one nvcc action each.
      hdrs: headers the sources include.
      deps: cc_library targets giving include paths, defines and headers.
      copts: extra nvcc flags (e.g. TensorFlow's --std=c++17).
      gencode: nvcc's GPU targets (-gencode flags), CUDA_GENCODE by default.
      **kwargs: passed to the cc_library (visibility, tags...).
    """
    objects = []
    for src in srcs:
        obj = "%s_%s" % (name, src.replace("/", "_").replace(".", "_"))
        _cuda_object(name = obj, src = src, hdrs = hdrs, deps = deps, copts = copts, gencode = gencode)
        objects.append(":" + obj)
    native.cc_library(name = name, srcs = objects, deps = deps, alwayslink = 1, **kwargs)
