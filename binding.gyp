{
  "targets": [
    {
      "target_name": "kernmod",
      "sources": ["native/kernmod.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fstack-protector-strong"],
      "conditions": [
        ["OS=='linux'", { "sources": ["native/sys_linux.cc"] }],
        ["OS!='linux'", { "sources": ["native/sys_other.cc"] }]
      ]
    }
  ]
}
