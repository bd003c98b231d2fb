console.log("wgate");
