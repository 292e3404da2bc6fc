document.getElementById("app").textContent = "dashboard placeholder";
