#!/bin/sh
# make install / make uninstall: the executable, its man page and completions
# under PREFIX (DESTDIR staged). install records what it made, so uninstall
# removes exactly that: its files, and the directories it had to create.
#   scripts/install.sh install|uninstall ROOT   (ROOT = $(DESTDIR)$(PREFIX))
set -eu
action=$1
root=$2
manifest="$root/share/qemu-script/installed"

# source destination mode
FILES="dist/qemu-script bin/qemu-script 0755
dist/qemu-script-waiter bin/qemu-script-waiter 0755
dist/qemu-script.1 share/man/man1/qemu-script.1 0644
dist/completions/qemu-script.bash share/bash-completion/completions/qemu-script 0644
dist/completions/_qemu-script share/zsh/site-functions/_qemu-script 0644
dist/completions/qemu-script.fish share/fish/vendor_completions.d/qemu-script.fish 0644"

# Every directory from DIR up to (not including) ROOT that does not exist yet, deepest last.
missing_dirs() {
  dir=$1
  while [ "$dir" != "$root" ] && [ ! -d "$dir" ]; do
    echo "$dir"
    dir=$(dirname "$dir")
  done
}

case "$action" in
install)
  made_dirs=$( {
    echo "$FILES" | while read -r _ dest _; do missing_dirs "$(dirname "$root/$dest")"; done
    missing_dirs "$(dirname "$manifest")"
  } | sort -u)
  echo "$FILES" | while read -r src dest mode; do
    install -D -m "$mode" "$src" "$root/$dest"
  done
  # The privileged helper: the executable under its own name, the one path sudoers names.
  ln -f "$root/bin/qemu-script" "$root/bin/qemu-script-helper"
  mkdir -p "$(dirname "$manifest")"
  { echo "$FILES" | while read -r _ dest _; do echo "file $root/$dest"; done
    echo "file $root/bin/qemu-script-helper"
    echo "$made_dirs" | sed '/^$/d; s/^/dir /'; } > "$manifest"
  echo "installed under $root (man qemu-script; completions for bash, zsh and fish)"
  ;;
uninstall)
  [ -f "$manifest" ] || { echo "uninstall: nothing of qemu-script is installed under $root" >&2; exit 1; }
  files=$(grep '^file ' "$manifest" | cut -c6-)
  # Deepest first: a directory goes only if install made it and it is empty now.
  dirs=$(grep '^dir ' "$manifest" | cut -c5- | awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2-)
  echo "$files" | while read -r path; do [ -z "$path" ] || rm -f "$path"; done
  rm -f "$manifest"
  echo "$dirs" | while read -r dir; do [ -z "$dir" ] || rmdir "$dir" 2>/dev/null || true; done
  echo "removed qemu-script from $root"
  ;;
*)
  echo "usage: $0 install|uninstall ROOT" >&2
  exit 2
  ;;
esac
