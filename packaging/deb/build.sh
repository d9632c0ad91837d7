#!/usr/bin/env bash
# `make deb`: builds build/deb/parley_<version>_<arch>.deb with dpkg-deb from
# a build of its own (PREFIX=/usr, Debian's hardening flags, in build/deb so
# that build/parley and the tests are untouched), staged by `make install`.
# Maintainer scripts, copyright and the description live next to this file.
set -eu
# Called from `make SANITIZE=1 …` (a test under sanitizers), the package is
# still the plain build.
unset MAKEFLAGS MFLAGS MAKELEVEL
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
version=$(cat VERSION)
arch=$(dpkg --print-architecture)
out=build/deb
root=$out/root
rm -rf "$root" "$out/shlibs"
mkdir -p "$root"

# Debian's hardening (stack protector, fortify, relro, bindnow, PIE).
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cflags="$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CFLAGS)"
ldflags=$(dpkg-buildflags --get LDFLAGS)
make -s SANITIZE= BUILD="$out/build" PREFIX=/usr OPT= CFLAGS="$cflags" LDFLAGS="$ldflags" "$out/build/parley" >/dev/null
make -s SANITIZE= BUILD="$out/build" PREFIX=/usr SYSCONFDIR=/etc UNITDIR=/lib/systemd/system \
	DESTDIR="$repo/$root" install >/dev/null

# Debian's layout: stripped binary, gzipped man pages, the docs lintian asks for.
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/parley"
gzip -9n "$root"/usr/share/man/man1/parley.1 "$root"/usr/share/man/man5/parley.conf.5
doc=$root/usr/share/doc/parley
install -d "$doc"
install -m 0644 "$here/copyright" "$doc/copyright"
{
	echo "parley ($version) unstable; urgency=medium"
	echo
	echo "  * Release $version; see README.md for what it does."
	echo
	echo " -- parley maintainers <maintainers@parley.example>  $(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")"
} | gzip -9n >"$doc/changelog.gz"
find "$root" -type d -exec chmod 0755 {} +

install -d "$root/DEBIAN"
(cd "$root" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
install -m 0755 "$here/postinst" "$here/postrm" "$root/DEBIAN/"
# Every file under /etc is a conffile: dpkg keeps the admin's edits on upgrade
# and the file on remove, and deletes it on purge.
(cd "$root" && find etc -type f | sed 's|^|/|' | sort) >"$root/DEBIAN/conffiles"

# Depends: what the binary links, as Debian's shlibs and symbols files say
# (libc6, libevent, libpq5, libcjson1, libcurl4, libssl3), plus adduser for
# postinst.
mkdir -p "$out/shlibs/debian"
printf 'Source: parley\n\nPackage: parley\nArchitecture: any\n' >"$out/shlibs/debian/control"
shlibs=$(cd "$out/shlibs" && dpkg-shlibdeps -O "$repo/$root/usr/bin/parley" 2>/dev/null |
	sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/adduser, $shlibs/" \
	-e "s/@SIZE@/$size/" "$here/control.in" >"$root/DEBIAN/control"

deb=$out/parley_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
