@echo off
rem VM extension uninstall on Windows (docs/extension.md, "Windows"): the agent's own uninstall
rem step, then the MSI removes the agent and its service; the config and state in
rem C:\ProgramData\dsvm-agent stay, as they do for `msiexec /x`. During an update (the new
rem version's update left the marker) the package stays: the new version's install upgrades it.
setlocal
rem The handler folder, where HandlerEnvironment.json is, whatever folder the guest agent starts in.
cd /d "%~dp0"
if exist "%ProgramW6432%\dsvm-agent\dsvm-agent.exe" (
    "%ProgramW6432%\dsvm-agent\dsvm-agent.exe" extension uninstall || exit /b
)
if exist "%ProgramData%\dsvm-agent\var\lib\dsvm-agent\extension-update" exit /b 0
set "msi="
for %%m in ("%~dp0dsvm-agent-*-x64.msi") do set "msi=%%~fm"
if not defined msi exit /b 0
msiexec.exe /x "%msi%" /qn /norestart /l*v "%~dp0msi-uninstall.log"
set rc=%errorlevel%
rem 1605: the package is not installed, nothing to remove; 3010, 1641: removed, a restart pending.
if "%rc%"=="0" exit /b 0
if "%rc%"=="1605" exit /b 0
if "%rc%"=="3010" exit /b 0
if "%rc%"=="1641" exit /b 0
echo dsvm-agent handler: msiexec /x %msi% failed with %rc%; see %~dp0msi-uninstall.log 1>&2
exit /b %rc%
