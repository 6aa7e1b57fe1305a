#!/bin/sh
# Lab stand-in for ESXi's /usr/lib/vmware/secureboot/bin/secureBoot.py (a
# Python script on ESXi): -s prints the UEFI Secure Boot state. The lab marks
# a host booted with Secure Boot (lab option secureBoot) with the flag file.
case "$*" in
  -s|--state)
    if [ -e /usr/lib/vmware/lab/secure-boot ]; then echo Enabled; else echo Disabled; fi
    ;;
  -h|--help)
    echo "usage: secureBoot.py [-h] [-s] [-c]"
    ;;
  *)
    echo "usage: secureBoot.py [-h] [-s] [-c]" >&2
    exit 2
    ;;
esac
