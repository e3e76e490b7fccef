# Install rules and CPack: filled in with the .deb work.
