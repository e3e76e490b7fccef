@echo off
rem VM extension install on Windows (docs/extension.md, "Windows"): the MSI beside this script
rem installs the agent and its service, or upgrades an older version in place; then the agent's
rem own install step. %ProgramW6432% is the 64-bit Program Files whichever cmd.exe runs this.
setlocal
rem The handler folder, where HandlerEnvironment.json is, whatever folder the guest agent starts in.
cd /d "%~dp0"
set "msi="
for %%m in ("%~dp0dsvm-agent-*-x64.msi") do set "msi=%%~fm"
if not defined msi (
    echo dsvm-agent handler: no dsvm-agent-*-x64.msi in %~dp0 1>&2
    exit /b 1
)
msiexec.exe /i "%msi%" /qn /norestart /l*v "%~dp0msi-install.log"
set rc=%errorlevel%
rem 3010, 1641: installed, a restart is needed to finish (the agent itself needs none).
if not "%rc%"=="0" if not "%rc%"=="3010" if not "%rc%"=="1641" (
    echo dsvm-agent handler: msiexec /i %msi% failed with %rc%; see %~dp0msi-install.log 1>&2
    exit /b %rc%
)
"%ProgramW6432%\dsvm-agent\dsvm-agent.exe" extension install
exit /b %errorlevel%
