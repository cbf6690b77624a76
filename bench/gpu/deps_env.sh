# Sourced on the GPU machine: build dependencies unpacked from Debian .debs into $PDEPS (never
# into /), the MLX CUDA wheels installed into $SITE. Sets the variables the build and runs need.
PDEPS=${PDEPS:-/opt/pdeps}
SITE=${SITE:-/tmp/site}
LIBDIR=$PDEPS/usr/lib/x86_64-linux-gnu

unpack_debs() {  # unpack_debs DIR: every .deb in DIR into $PDEPS, pkg-config files pointed there
  mkdir -p "$PDEPS"
  for f in "$1"/*.deb; do dpkg -x "$f" "$PDEPS"; done
  sed -i "s#^prefix=/usr\$#prefix=$PDEPS/usr#" "$LIBDIR"/pkgconfig/*.pc "$PDEPS"/usr/share/pkgconfig/*.pc
}

export PKG_CONFIG_PATH=$LIBDIR/pkgconfig:$PDEPS/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export CPATH=$PDEPS/usr/include:$PDEPS/usr/include/x86_64-linux-gnu${CPATH:+:$CPATH}
export LIBRARY_PATH=$LIBDIR${LIBRARY_PATH:+:$LIBRARY_PATH}
export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
# The runtime libraries of cpp-httplib and libcurl (Debian bookworm builds; glibc is newer there).
export PENSIEVE_LD_PATH=$LIBDIR
