{
  "variables": {
    "dnnl%": "<!(node -p \"!process.env.RNNLM_NO_DNNL && ['/usr/include/dnnl.hpp', '/usr/include/oneapi/dnnl/dnnl.hpp'].some((f) => require('fs').existsSync(f)) ? 1 : 0\")",
    "mpi%": "<!(node -p \"!process.env.RNNLM_NO_MPI && require('child_process').spawnSync('pkg-config', ['--exists', 'ompi-c']).status === 0 ? 1 : 0\")"
  },
  "targets": [
    {
      "target_name": "rnnlm",
      "sources": ["native/addon.cc", "native/kernels.cc", "native/words.cc", "native/dnnl_gemm.cc", "native/mpi.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(pkg-config --cflags-only-I openblas | sed 's/-I//g')"
      ],
      "libraries": ["<!@(pkg-config --libs openblas)", "-pthread"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-O2"],
      "cflags_cc": ["-std=c++17", "-pthread", "-fexceptions", "-O3", "-fno-math-errno", "-Wall", "-Wextra"],
      "conditions": [
        ["dnnl==1", { "defines": ["RNNLM_DNNL"], "libraries": ["-ldnnl", "-lgomp"] }],
        ["mpi==1", {
          "defines": ["RNNLM_MPI"],
          "include_dirs": ["<!@(pkg-config --cflags-only-I ompi-c | sed 's/-I//g')"],
          "libraries": ["<!@(pkg-config --libs ompi-c)", "-ldl"]
        }]
      ]
    }
  ]
}
