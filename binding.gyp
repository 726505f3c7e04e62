{
  "variables": {
    "have_lzma%": "<!(node scripts/has-lzma.mjs)"
  },
  "targets": [
    {
      "target_name": "kernmod",
      "sources": ["native/kernmod.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-fstack-protector-strong"],
      "conditions": [
        ["OS=='linux'", { "sources": ["native/sys_linux.cc"] }],
        ["OS=='netbsd'", { "sources": ["native/sys_netbsd.cc"], "defines": ["KERNMOD_MODCTL=1"], "cflags": ["-pthread"], "ldflags": ["-pthread"] }],
        ["OS!='linux' and OS!='netbsd'", { "sources": ["native/sys_other.cc"] }]
      ]
    },
    {
      "target_name": "kernmod_xz",
      "sources": ["native/xz.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-fstack-protector-strong"],
      "conditions": [
        ["have_lzma==1", { "defines": ["KERNMOD_HAVE_LZMA=1"], "libraries": ["-llzma"] }]
      ]
    }
  ]
}
